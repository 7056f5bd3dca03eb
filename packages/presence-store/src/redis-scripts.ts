/**
 * Lua scripts of the Redis presence store. Each one touches only the keys it declares, and the
 * room scripts only the four keys of one room (one hash tag), so they run on Redis Cluster.
 * Time is Redis's own clock (`TIME`), never a client's: gateways and sweepers on hosts with
 * skewed clocks agree on what has expired. Scores are milliseconds since the epoch.
 * Requires Redis >= 6.2 (ZADD GT/LT).
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function s(n) return string.format('%.0f', n) end
`;

// The user's lex range in the `l` key: members "U:conn"; base64url has no ':' so "U:" is exact.
const USER_CONNS = `
local function userConns(l, uk) return redis.call('ZRANGEBYLEX', l, '[' .. uk .. ':', '(' .. uk .. ';') end
local function latest(c, uk, conns)
  local max = 0
  for _, m in ipairs(conns) do
    local sc = redis.call('ZSCORE', c, string.sub(m, #uk + 2))
    if sc and tonumber(sc) > max then max = tonumber(sc) end
  end
  return max
end
`;

/**
 * KEYS c d u l; ARGV ttlMs, graceMs, then (conn, U, "U|json") per connection -> one code per
 * connection: 1 first entry of the user in the room (a join), 3 the same and the room's first
 * entry of anyone (it becomes occupied), 0 not the first, 2 refused (the id belongs to another user). One call per room per batch: a heartbeat of a whole room is one
 * script run, not one per connection.
 */
const ADD = `${NOW}
local c, d, u, l = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local exp = s(now + tonumber(ARGV[1]))
local conns = {}
for i = 3, #ARGV, 3 do conns[#conns + 1] = ARGV[i] end
-- One call per kind of write for the whole batch: per-call overhead dominates otherwise.
local prevs = redis.call('HMGET', d, unpack(conns))
local roomEmpty = redis.call('ZCARD', l) == 0
local out, zc, zu, hs, zl, seen, written = {}, {}, {}, {}, {}, {}, {}
for k = 1, #conns do
  local i = 3 * k
  local conn, uk, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  -- An id written earlier in this batch counts as stored.
  local prev = written[conn] or prevs[k]
  if prev and string.sub(prev, 1, #uk + 1) ~= uk .. '|' then
    out[k] = 2
  else
    local first = 0
    if not prev and not seen[uk] and redis.call('ZLEXCOUNT', l, '[' .. uk .. ':', '(' .. uk .. ';') == 0 then first = 1 end
    seen[uk] = true
    if first == 1 and roomEmpty then
      first = 3
      roomEmpty = false
    end
    out[k] = first
    written[conn] = value
    zc[#zc + 1] = exp
    zc[#zc + 1] = conn
    if not prev then
      zl[#zl + 1] = 0
      zl[#zl + 1] = uk .. ':' .. conn
    end
    if prev ~= value then
      hs[#hs + 1] = conn
      hs[#hs + 1] = value
    end
  end
end
for uk in pairs(seen) do
  zu[#zu + 1] = exp
  zu[#zu + 1] = uk
end
if #zc > 0 then redis.call('ZADD', c, unpack(zc)) end
if #zu > 0 then redis.call('ZADD', u, 'GT', unpack(zu)) end
if #zl > 0 then redis.call('ZADD', l, unpack(zl)) end
if #hs > 0 then redis.call('HSET', d, unpack(hs)) end
local keep = s(now + tonumber(ARGV[1]) + tonumber(ARGV[2]))
redis.call('PEXPIREAT', c, keep)
redis.call('PEXPIREAT', d, keep)
redis.call('PEXPIREAT', u, keep)
redis.call('PEXPIREAT', l, keep)
return out`;

/** KEYS c d u l; ARGV conn, U -> {lastForUser 0|1, userStillLive 0|1, lastForRoom 0|1} */
const REMOVE = `${NOW}${USER_CONNS}
local c, d, u, l = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local conn, uk = ARGV[1], ARGV[2]
local prev = redis.call('HGET', d, conn)
if not prev or string.sub(prev, 1, #uk + 1) ~= uk .. '|' then return {0, 0, 0} end
redis.call('ZREM', c, conn)
redis.call('HDEL', d, conn)
redis.call('ZREM', l, uk .. ':' .. conn)
local mine = userConns(l, uk)
if #mine == 0 then
  redis.call('ZREM', u, uk)
  if redis.call('ZCARD', l) == 0 then return {1, 0, 1} end
  return {1, 0, 0}
end
local max = latest(c, uk, mine)
redis.call('ZADD', u, s(max), uk)
if max > now then return {0, 1, 0} end
return {0, 0, 0}`;

/**
 * KEYS c d u l; ARGV limit -> {next, deleted, vacated, U...}: deletes up to `limit` expired
 * connections and returns the users left with no entry (the leaves), after `next`: the earliest
 * remaining expiry, or -1 when the room is empty (`next <= now`: more expired entries remain), the
 * number of connections deleted, and 1 when these leaves emptied the room (it is vacated).
 */
const SWEEP_ROOM = `${NOW}${USER_CONNS}
local c, d, u, l = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local expired = redis.call('ZRANGEBYSCORE', c, '-inf', s(now), 'LIMIT', 0, tonumber(ARGV[1]))
local touched, order = {}, {}
for _, conn in ipairs(expired) do
  redis.call('ZREM', c, conn)
  local v = redis.call('HGET', d, conn)
  if v then
    redis.call('HDEL', d, conn)
    local uk = string.sub(v, 1, string.find(v, '|', 1, true) - 1)
    redis.call('ZREM', l, uk .. ':' .. conn)
    if not touched[uk] then
      touched[uk] = true
      order[#order + 1] = uk
    end
  end
end
local result = {'-1', #expired, 0}
for _, uk in ipairs(order) do
  local mine = userConns(l, uk)
  if #mine == 0 then
    redis.call('ZREM', u, uk)
    result[#result + 1] = uk
  else
    redis.call('ZADD', u, s(latest(c, uk, mine)), uk)
  end
end
if #result > 3 and redis.call('ZCARD', l) == 0 then result[3] = 1 end
local first = redis.call('ZRANGE', c, 0, 0, 'WITHSCORES')
if #first > 0 then result[1] = first[2] end
return result`;

/** KEYS c d -> the "U|json" values of the live connections. */
const MEMBERS = `${NOW}
local conns = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. s(now), '+inf')
local out = {}
-- unpack() of a whole large room would overflow Lua's C stack: read the hash in chunks.
for i = 1, #conns, 500 do
  local chunk = {}
  for j = i, math.min(i + 499, #conns) do chunk[#chunk + 1] = conns[j] end
  local values = redis.call('HMGET', KEYS[2], unpack(chunk))
  for k = 1, #chunk do
    if values[k] then out[#out + 1] = values[k] end
  end
end
return out`;

/** KEYS c u -> {live users, live connections}: two ZCOUNTs, no listing. */
const COUNT = `${NOW}
local since = '(' .. s(now)
return {redis.call('ZCOUNT', KEYS[2], since, '+inf'), redis.call('ZCOUNT', KEYS[1], since, '+inf')}`;

/** KEYS z; ARGV GT|LT, offsetMs, graceMs, member... -> ZADD <mode> (now + offset) each member. */
const TOUCH = `${NOW}
local score = s(now + tonumber(ARGV[2]))
local args = {}
for i = 4, #ARGV do
  args[#args + 1] = score
  args[#args + 1] = ARGV[i]
end
for i = 1, #args, 400 do
  redis.call('ZADD', KEYS[1], ARGV[1], unpack(args, i, math.min(i + 399, #args)))
end
redis.call('PEXPIREAT', KEYS[1], s(now + tonumber(ARGV[2]) + tonumber(ARGV[3])))
return score`;

/** KEYS z; ARGV limit -> members scored at or before now (due). */
const DUE = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', s(now), 'LIMIT', 0, tonumber(ARGV[1]))`;

/** KEYS u (a room's users); ARGV U -> 1 live in the room, 0 only expired entries, -1 no entry. */
const USER_STATE = `${NOW}
local sc = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not sc then return -1 end
if tonumber(sc) > now then return 1 end
return 0`;

/** KEYS z -> deletes members scored at or before now, then returns how many remain (all live). */
const TRIM = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(now))
return redis.call('ZCARD', KEYS[1])`;

/**
 * KEYS n (a user's room count in a tenant); ARGV delta (+1 a join, -1 a leave decided by a room
 * script) -> the count after it. At 0 or below the key goes (a stray leave never makes it negative).
 */
const USER_ROOM_COUNT = `local n = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n`;

export const PRESENCE_SCRIPTS = {
  parleyPresenceAdd: { numberOfKeys: 4, lua: ADD },
  parleyPresenceRemove: { numberOfKeys: 4, lua: REMOVE },
  parleyPresenceSweepRoom: { numberOfKeys: 4, lua: SWEEP_ROOM },
  parleyPresenceMembers: { numberOfKeys: 2, lua: MEMBERS },
  parleyPresenceCount: { numberOfKeys: 2, lua: COUNT },
  parleyPresenceTouch: { numberOfKeys: 1, lua: TOUCH },
  parleyPresenceDue: { numberOfKeys: 1, lua: DUE },
  parleyPresenceUserState: { numberOfKeys: 1, lua: USER_STATE },
  parleyPresenceTrim: { numberOfKeys: 1, lua: TRIM },
  parleyPresenceUserRoomCount: { numberOfKeys: 1, lua: USER_ROOM_COUNT },
} as const;

export type PresenceScriptName = keyof typeof PRESENCE_SCRIPTS;

/** Error replies of the scripts start with this word (a reused connection id). */
export const CONFLICT_REPLY = 'PARLEY_CONFLICT';
