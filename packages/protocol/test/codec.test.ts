import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERRORS, decodeClientFrame, encodeDirectFrame, encodeRoomMessageFrame, fromSubjectToken, isRoomName, roomMessageTimestamp, subjectToken, subjects } from '../src/index.ts';

describe('codec', () => {
  it('codec - never throws and always answers a frame or a registered error code, for any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary' })), (text) => {
        const result = decodeClientFrame(text);
        if (!result.ok) expect(Object.keys(ERRORS)).toContain(result.error.code);
      }),
      { numRuns: 2000 },
    );
  });

  it('codec - any JSON object with a known type decodes or fails with a registered code', () => {
    const type = fc.constantFrom('join', 'leave', 'publish', 'direct', 'presence', 'history', 'refresh', 'ping');
    fc.assert(
      fc.property(type, fc.dictionary(fc.string(), fc.jsonValue()), (t, rest) => {
        const result = decodeClientFrame(JSON.stringify({ ...rest, type: t }));
        if (result.ok) expect(result.frame.type).toBe(t);
        else expect(Object.keys(ERRORS)).toContain(result.error.code);
      }),
      { numRuns: 2000 },
    );
  });

  it('codec - valid frames round-trip', () => {
    const room = fc.stringMatching(/^[a-z0-9_:-]{1,40}$/);
    fc.assert(
      fc.property(room, fc.jsonValue(), fc.option(fc.integer(), { nil: undefined }), (r, data, id) => {
        const frame = { type: 'publish', room: r, data: data ?? null, ...(id !== undefined && { id }) };
        const result = decodeClientFrame(JSON.stringify(frame));
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.frame).toEqual(JSON.parse(JSON.stringify(frame)));
      }),
    );
  });

  it('codec - the request id is echoed even when the frame is invalid', () => {
    const result = decodeClientFrame(JSON.stringify({ type: 'join', id: 'abc', room: 'a.b' }));
    expect(result).toMatchObject({ ok: false, id: 'abc', error: { code: 'invalid_room' } });
  });
});

describe('names', () => {
  it('names - subject tokens never contain separators or wildcards and round-trip', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }), (name) => {
        const token = subjectToken(name);
        expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(fromSubjectToken(token)).toBe(name);
      }),
      { numRuns: 2000 },
    );
  });

  it('names - distinct rooms or namespaces never share a subject', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
        fc.pre(a !== b);
        expect(subjects.room('t1', a)).not.toBe(subjects.room('t1', b));
        expect(subjects.room('t1', a)).not.toBe(subjects.room('t2', a));
        expect(subjects.room('t1', a).split('.')).toHaveLength(3);
      }),
    );
  });

  it('names - room names refuse dots, wildcards, white space and overlong names', () => {
    for (const bad of ['a.b', '*', '>', 'a b', 'x'.repeat(129), '', 'a\u0000b']) expect(isRoomName(bad), bad).toBe(false);
    for (const good of ['lobby', 'game-42', 'team:blue', 'café', '房间', 'a/b#c']) expect(isRoomName(good), good).toBe(true);
  });
  it('message frames - the timestamp is read back from the bytes, and nothing else passes for a message frame', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9_999_999_999_999 }), fc.jsonValue(), fc.option(fc.nat(), { nil: undefined }), (ts, data, seq) => {
        const bytes = encodeRoomMessageFrame({ room: 'r', msgId: 'm', from: { user: 'u', conn: 'c' }, data, ts, ...(seq !== undefined && { seq }) });
        expect(roomMessageTimestamp(bytes)).toBe(ts);
        expect(JSON.parse(new TextDecoder().decode(bytes))).toEqual({ type: 'message', ts, room: 'r', msgId: 'm', from: { user: 'u', conn: 'c' }, data: JSON.parse(JSON.stringify(data)), ...(seq !== undefined && { seq }) });
      }),
    );
    const enc = (text: string) => new TextEncoder().encode(text);
    for (const other of ['', '{"type":"message","ts":', '{"type":"message","ts":}', '{"type":"message","ts":"1"}', '{"type":"message","ts":12', '{"type":"messages","ts":1,', '{"type":"message","ts":12345678901234,']) {
      expect(roomMessageTimestamp(enc(other)), other).toBeUndefined();
    }
    expect(roomMessageTimestamp(encodeDirectFrame({ msgId: 'm', from: { user: 'u' }, data: 1, ts: 5 }))).toBeUndefined();
  });
});
