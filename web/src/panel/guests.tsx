// Co-streaming guests: invite a viewer on stage (by user id, or from a chat line's menu), see
// each invitation's status, mute or unmute a guest, take a guest off the stage.

import type { Json } from "livefold-sdk";
import { useEffect, useState } from "preact/hooks";
import { handle } from "../format";
import { api } from "../live";
import { Said, useAction } from "./act";
import type { TabProps } from "./studio";

const OPEN = new Set(["invited", "accepted", "live"]);

export function Guests({ streamId, views }: TabProps) {
  const act = useAction();
  const [guest, setGuest] = useState("");
  const [invites, setInvites] = useState<Json[]>([]);
  const load = () => api.guests(streamId).then((answer) => setInvites((answer.invites as Json[] | undefined) ?? []), () => undefined);
  // Invitations change on the stream channel: reload when it moves.
  useEffect(() => void load(), [streamId, JSON.stringify(views.stream?.on_stage ?? []), act.done]);
  useEffect(() => {
    const timer = setInterval(() => void load(), 3000);
    return () => clearInterval(timer);
  }, [streamId]);
  const invite = async (event: Event) => {
    event.preventDefault();
    const id = guest.trim();
    if (!id) return;
    const made = await act.run(() => api.inviteGuest(streamId, id), `${handle(id)} is invited.`);
    if (made) (setGuest(""), setTimeout(() => void load(), 500));
  };
  const chatters = [...new Set(views.messages.map((message) => String(message.author)))].filter((id) => id !== views.stream?.streamer).slice(-8);
  return (
    <div class="panes">
      <section class="pane" aria-label="Invite a guest">
        <h2>Invite a guest</h2>
        <p class="muted small">A guest accepts from their stream page and joins your stage.</p>
        <form class="inline-form" onSubmit={invite}>
          <input aria-label="Guest's user id" placeholder="user id" value={guest} onInput={(event) => setGuest(event.currentTarget.value)} />
          <button class="button primary" type="submit" disabled={act.busy || !guest.trim()}>Invite</button>
        </form>
        {chatters.length > 0 && (
          <>
            <h3>From chat</h3>
            <ul class="chips">
              {chatters.map((id) => (
                <li class="chip"><button class="link" onClick={() => setGuest(id)}>{handle(id)}</button></li>
              ))}
            </ul>
          </>
        )}
        <Said action={act} />
      </section>
      <section class="pane" aria-label="Guests">
        <h2>Guests</h2>
        <ul class="records">
          {invites.length === 0 && <li class="muted small">No invitations yet.</li>}
          {[...invites].reverse().map((invite) => (
            <li class="record" data-invite={String(invite.invite_id)} data-guest={String(invite.guest_id)}>
              <div class="record-head">
                <b class="grow">{handle(String(invite.guest_id))}</b>
                <span class={`badge status-${String(invite.status)}`}>{String(invite.status)}</span>
                {invite.muted === true && <span class="badge">muted</span>}
                {OPEN.has(String(invite.status)) && (
                  <>
                    <button class="button small" onClick={() => void act.run(() => api.muteGuest(streamId, String(invite.invite_id), invite.muted !== true), invite.muted ? "Unmuted." : "Muted.")}>
                      {invite.muted === true ? "Unmute" : "Mute"}
                    </button>
                    <button class="button small" onClick={() => void act.run(() => api.removeGuest(streamId, String(invite.invite_id)), "Removed from the stage.")}>
                      {invite.status === "live" ? "Remove from stage" : "Withdraw"}
                    </button>
                  </>
                )}
              </div>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
