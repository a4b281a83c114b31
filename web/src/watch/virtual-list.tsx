// A windowed list for the chat: only the rows in view (and a screen's worth around them) are in
// the DOM, each placed at its offset, so a chat of thousands of messages costs what a screenful
// does. Rows are measured as they render (ResizeObserver); until then a row counts as `estimate`
// pixels. The list keeps its place: at the bottom it follows new rows; scrolled up, the first
// row in view stays where it is on screen whatever is added above it or measured anew (older
// history, a row that wrapped), so nothing the reader looks at jumps.

import type { ComponentChildren } from "preact";
import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";

const OVERSCAN_PX = 400;
const FOLLOW_SLACK_PX = 24;

interface Props<T> {
  items: T[];
  keyOf: (item: T) => string;
  render: (item: T, index: number) => ComponentChildren;
  estimate?: number;
  label: string;
  /** Called when the reader reaches the top (to load earlier rows). */
  onTop?: () => void;
  header?: ComponentChildren;
  /** Says whether the reader is following the newest rows (at the bottom). */
  onFollowing?: (following: boolean) => void;
  /** Changes of this value scroll to the bottom (e.g. the reader sent a message). */
  jumpToEnd?: unknown;
}

function firstAtOrAfter(offsets: number[], y: number): number {
  let low = 0;
  let high = offsets.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (offsets[middle + 1]! <= y) low = middle + 1;
    else high = middle;
  }
  return low;
}

export function VirtualList<T>({ items, keyOf, render, estimate = 28, label, onTop, header, onFollowing, jumpToEnd }: Props<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const following = useRef(true);
  const anchor = useRef<{ key: string; fromTop: number } | null>(null);
  const placed = useRef(-1); // the scrollTop this list set itself: its scroll event is not the reader's
  const [measured, setMeasured] = useState(0);
  const [view, setView] = useState({ top: 0, height: 600 });
  const headerHeight = useRef(0);

  const keys = useMemo(() => items.map(keyOf), [items]);
  if (header === undefined) headerHeight.current = 0; // gone: the rows start at the top again
  const offsets = useMemo(() => {
    const all = new Array<number>(keys.length + 1);
    let y = headerHeight.current;
    for (let index = 0; index < keys.length; index++) {
      all[index] = y;
      y += heights.current.get(keys[index]!) ?? estimate;
    }
    all[keys.length] = y;
    return all;
  }, [keys, measured, header === undefined]);
  const total = offsets[keys.length]!;

  const observer = useMemo(
    () =>
      new ResizeObserver((entries) => {
        let changed = false;
        for (const entry of entries) {
          const element = entry.target as HTMLElement;
          const height = Math.ceil(element.getBoundingClientRect().height);
          const key = element.dataset.key!;
          if (key === "\u0000header") {
            if (headerHeight.current !== height) (headerHeight.current = height), (changed = true);
          } else if (heights.current.get(key) !== height) {
            heights.current.set(key, height);
            changed = true;
          }
        }
        if (changed) setMeasured((count) => count + 1);
      }),
    [],
  );
  useLayoutEffect(() => () => observer.disconnect(), []);
  const measure = useMemo(
    () => (row: HTMLLIElement | null) => {
      if (!row) return;
      observer.observe(row);
      return () => observer.unobserve(row);
    },
    [],
  );

  // Keep the place: follow the end, or hold the anchor row where the reader saw it.
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    if (following.current) {
      element.scrollTop = element.scrollHeight;
    } else if (anchor.current) {
      const index = keys.indexOf(anchor.current.key);
      if (index >= 0) element.scrollTop = offsets[index]! - anchor.current.fromTop;
    }
    placed.current = element.scrollTop;
    setView((now) => (now.top === element.scrollTop && now.height === element.clientHeight ? now : { top: element.scrollTop, height: element.clientHeight }));
  }, [offsets]);

  useLayoutEffect(() => {
    if (jumpToEnd === undefined) return;
    following.current = true;
    onFollowing?.(true);
    const element = scroller.current;
    if (element) element.scrollTop = element.scrollHeight;
    if (element) placed.current = element.scrollTop;
  }, [jumpToEnd]);

  const scrolled = () => {
    const element = scroller.current;
    if (!element) return;
    if (Math.abs(element.scrollTop - placed.current) > 1) {
      const now = element.scrollHeight - element.scrollTop - element.clientHeight < FOLLOW_SLACK_PX;
      if (now !== following.current) onFollowing?.(now);
      following.current = now;
      placed.current = -1;
    }
    const first = keys.length ? firstAtOrAfter(offsets, element.scrollTop) : -1;
    anchor.current = first >= 0 ? { key: keys[first]!, fromTop: offsets[first]! - element.scrollTop } : null;
    setView({ top: element.scrollTop, height: element.clientHeight });
    if (element.scrollTop < OVERSCAN_PX / 2 && onTop) onTop();
  };

  const start = keys.length ? firstAtOrAfter(offsets, Math.max(0, view.top - OVERSCAN_PX)) : 0;
  let end = start;
  while (end < keys.length && offsets[end]! < view.top + view.height + OVERSCAN_PX) end++;

  return (
    <div class="virtual" ref={scroller} onScroll={scrolled} tabIndex={0} role="log" aria-label={label} aria-live="polite">
      <ol class="virtual-rows" style={{ height: `${total}px` }}>
        {header !== undefined && (
          <li class="virtual-row virtual-header" data-key={"\u0000header"} ref={measure} style={{ transform: "translateY(0px)" }}>
            {header}
          </li>
        )}
        {items.slice(start, end).map((item, offset) => {
          const index = start + offset;
          const key = keys[index]!;
          return (
            <li
              key={key}
              class="virtual-row"
              data-key={key}
              aria-setsize={keys.length}
              aria-posinset={index + 1}
              ref={measure}
              style={{ transform: `translateY(${offsets[index]}px)` }}
            >
              {render(item, index)}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
