/** A write of yours that the gateway or a fold refused, and why: a new object each time, so the
 * same reason twice still shows. */
export interface Refused {
  reason: string;
}
