/**
 * The undici Agent behind Transport, in a module of its own so that it is
 * loaded only when a request is sent (see Transport.dispatcher): undici is
 * most of the CLI's code, and the commands that may pull import the
 * registry client whether or not they pull.
 */
import { Agent } from "undici";

export function newAgent(ca: string | undefined): Agent {
  return new Agent({ connections: 8, ...(ca ? { connect: { ca } } : {}) });
}
