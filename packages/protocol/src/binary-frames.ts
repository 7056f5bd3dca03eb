import { isRoomName } from './names.ts';

/**
 * Binary frames (docs/protocol.md, "Binary frames"), for users holding the `binary` capability on
 * the room. Lengths are unsigned 16-bit big-endian; names are UTF-8.
 *
 *   client → gateway:  [1] [room length] [room] [payload]
 *   gateway → member:  [1] [room length] [room] [sender length] [sender user id] [payload]
 */
export const BINARY_FRAME_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export interface ClientBinaryFrame {
  room: string;
  payload: Uint8Array;
}

/** The room and payload of a client's binary frame, or undefined when the bytes do not follow the layout. */
export function decodeClientBinaryFrame(bytes: Uint8Array): ClientBinaryFrame | undefined {
  if (bytes.byteLength < 3 || bytes[0] !== BINARY_FRAME_VERSION) return undefined;
  const roomLength = (bytes[1]! << 8) | bytes[2]!;
  if (roomLength === 0 || 3 + roomLength > bytes.byteLength) return undefined;
  let room: string;
  try {
    room = decoder.decode(bytes.subarray(3, 3 + roomLength));
  } catch {
    return undefined;
  }
  if (!isRoomName(room)) return undefined;
  return { room, payload: bytes.subarray(3 + roomLength) };
}

export function encodeClientBinaryFrame(room: string, payload: Uint8Array): Uint8Array {
  const name = encoder.encode(room);
  const out = new Uint8Array(3 + name.byteLength + payload.byteLength);
  out[0] = BINARY_FRAME_VERSION;
  out[1] = name.byteLength >> 8;
  out[2] = name.byteLength & 0xff;
  out.set(name, 3);
  out.set(payload, 3 + name.byteLength);
  return out;
}

export interface BinaryMessage {
  room: string;
  from: string;
  payload: Uint8Array;
}

/** The frame members receive: the client's frame with the sender's user id put in after the room. */
export function encodeMemberBinaryFrame(room: string, from: string, payload: Uint8Array): Uint8Array {
  const name = encoder.encode(room);
  const sender = encoder.encode(from);
  const out = new Uint8Array(5 + name.byteLength + sender.byteLength + payload.byteLength);
  out[0] = BINARY_FRAME_VERSION;
  out[1] = name.byteLength >> 8;
  out[2] = name.byteLength & 0xff;
  out.set(name, 3);
  let at = 3 + name.byteLength;
  out[at] = sender.byteLength >> 8;
  out[at + 1] = sender.byteLength & 0xff;
  out.set(sender, at + 2);
  at += 2 + sender.byteLength;
  out.set(payload, at);
  return out;
}

export function decodeMemberBinaryFrame(bytes: Uint8Array): BinaryMessage | undefined {
  if (bytes.byteLength < 5 || bytes[0] !== BINARY_FRAME_VERSION) return undefined;
  const roomLength = (bytes[1]! << 8) | bytes[2]!;
  const senderAt = 3 + roomLength;
  if (senderAt + 2 > bytes.byteLength) return undefined;
  const senderLength = (bytes[senderAt]! << 8) | bytes[senderAt + 1]!;
  const payloadAt = senderAt + 2 + senderLength;
  if (payloadAt > bytes.byteLength) return undefined;
  try {
    return { room: decoder.decode(bytes.subarray(3, senderAt)), from: decoder.decode(bytes.subarray(senderAt + 2, payloadAt)), payload: bytes.subarray(payloadAt) };
  } catch {
    return undefined;
  }
}

/** True for bytes that are a binary frame rather than a JSON text frame (which starts with `{`). */
export function isBinaryFrame(bytes: Uint8Array): boolean {
  return bytes[0] === BINARY_FRAME_VERSION;
}
