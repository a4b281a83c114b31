// One way for the panel's buttons to call the SDK: busy while the call runs, the gateway's
// reason (ApiError.reason) shown when it refuses, a note when it worked.

import { ApiError } from "livefold-sdk";
import { useState } from "preact/hooks";

export function reasonOf(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.fields.map((problem) => `${problem.field}: ${problem.reason}`).join("; ");
    return fields ? `${error.reason} (${fields})` : error.reason || error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export interface Action {
  busy: boolean;
  problem: string | null;
  done: string | null;
  run: <T>(call: () => Promise<T>, done?: string) => Promise<T | undefined>;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = async <T,>(call: () => Promise<T>, said?: string): Promise<T | undefined> => {
    setBusy(true);
    setProblem(null);
    setDone(null);
    try {
      const result = await call();
      if (said) setDone(said);
      return result;
    } catch (error) {
      setProblem(reasonOf(error));
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, problem, done, run };
}

/** What became of the last action: the refusal's reason, or the note it was done. */
export function Said({ action }: { action: Action }) {
  if (action.problem !== null) return <p class="refused" role="alert">{action.problem}</p>;
  if (action.done !== null) return <p class="done" role="status">{action.done}</p>;
  return null;
}
