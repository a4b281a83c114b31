import { choose, type Language, LANGUAGES, language, t } from "./i18n";

/** The app's language, chosen here (the page reloads in it). */
export function LanguagePicker() {
  return (
    <label class="language">
      <span class="visually-hidden">{t("app.language")}</span>
      <select value={language} onChange={(event) => choose(event.currentTarget.value as Language)}>
        {Object.entries(LANGUAGES).map(([code, name]) => <option value={code}>{name}</option>)}
      </select>
    </label>
  );
}
