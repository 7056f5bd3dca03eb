import { clientFrameSchema, CLIENT_FRAME_TYPES, type ClientFrame, type RequestId, type ServerFrame } from './frames.ts';
import { errorBody, type ErrorBody } from './errors.ts';
import { MAX_JSON_DEPTH, exceedsJsonDepth } from './limits.ts';

/** Longest string request id echoed back (a longer one is invalid and not echoed). */
const MAX_ECHOED_ID_LENGTH = 64;

export type DecodeResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; error: ErrorBody; id?: RequestId; type?: string };

const KNOWN_TYPES = new Set<string>(CLIENT_FRAME_TYPES);

/**
 * Decodes one client text frame. Never throws: any input gives either a valid frame or an
 * error with a stable code (and the request id, when one could be read, so the reply can echo it).
 */
export function decodeClientFrame(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: errorBody('bad_json') };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: errorBody('bad_frame', 'a frame is a JSON object with a "type"') };
  }
  const raw = value as Record<string, unknown>;
  const id =
    (typeof raw.id === 'string' && raw.id.length <= MAX_ECHOED_ID_LENGTH) || (typeof raw.id === 'number' && Number.isSafeInteger(raw.id)) ? (raw.id as RequestId) : undefined;
  const type = typeof raw.type === 'string' ? raw.type : undefined;
  if (type === undefined || !KNOWN_TYPES.has(type)) {
    const message = type === undefined ? 'a frame needs a string "type"' : `unknown frame type "${type.slice(0, 32)}"`;
    return { ok: false, error: errorBody('unknown_type', message), ...(id !== undefined && { id }) };
  }
  if (exceedsJsonDepth(raw.data, MAX_JSON_DEPTH)) {
    return { ok: false, error: errorBody('bad_frame', `data: nested more than ${MAX_JSON_DEPTH} levels deep`), ...(id !== undefined && { id }), type };
  }
  const parsed = clientFrameSchema.safeParse(raw);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  const code = path === 'room' ? 'invalid_room' : path === 'to' ? 'invalid_user' : 'bad_frame';
  const detail = code === 'invalid_room' ? 'room name must be 1-128 letters, digits or _-:@/#+=~! (no dots, wildcards or spaces)' : `${path || 'frame'}: ${issue?.message ?? 'invalid'}`;
  return { ok: false, error: errorBody(code, detail), id, type };
}

export function encodeServerFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
