/** Free text from an image (ordinary configs) as the hub keeps it: control and bidi characters dropped, length capped. */
// eslint-disable-next-line no-control-regex -- the characters to drop
const UNWANTED = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function cleanText(text: string, max: number): string {
  return text.replace(UNWANTED, "").slice(0, max);
}
