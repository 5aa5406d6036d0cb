import { MAX_RECENT_TRANSACTIONS } from './entityRecords.js';
import type { PlainForm } from './redisCommands.js';
import { MAX_CORRECTIONS } from './stateStore.js';

/**
 * The Lua scripts of the Redis state store: the update rules of
 * models/feature-spec.json's history.rules (the same as entityRecords.ts),
 * run inside Redis so that reading and updating an entity is one atomic step
 * and one round trip. Each script touches the keys of one hash tag only (one
 * customer, one terminal or one transaction), so every script runs on one
 * Redis Cluster slot.
 *
 * Values are packed little-endian binary (Lua's struct library), read back in
 * redisCodec.ts. Ids travel as their 8 raw bytes (uint64, little-endian): Lua
 * numbers are doubles and cannot hold every int64, but byte strings compare
 * exactly. Times and amounts are doubles end to end, so sums and boundaries
 * are the same bits as in the embedded store.
 *
 *   customer  {c:<id>}        header <d watermark, I4 days, I4 recent>
 *                             days   <d day, d count, d sum, d max> each,
 *                                    ascending (as entityRecords.ts keeps them)
 *                             recent <c8 id, d time, d amount> each
 *   terminal  {t:<id>}        header <d watermark, I4 days, I4 frauds>
 *                             days   <d day, d count> each, ascending
 *                             frauds <c8 transaction id, d day, d known_at> each
 *                                    (in force)
 *                             then, only when a correction ended one:
 *                             <I4 ended> and ended frauds <c8 transaction id,
 *                             d day, d known_at, d until> each (a value
 *                             without them is the layout of older versions)
 *             {t:<id>}:ids    sorted set: ids counted here (score: event time)
 *                             whose event time is within the lateness of the
 *                             terminal's watermark; tells a retry from a new one
 *   transaction {x:<id>}      <c8 customer id, c8 terminal id, d time,
 *                             d amount> (first writer wins; 24 bytes, without
 *                             the amount, when written by an older version),
 *                             then <c1 outcome, d known_at> once reported,
 *                             one more per correction (at most
 *                             MAX_CORRECTIONS): the last one is in force
 *             {x:<id>}:s     the scores model revisions gave the transaction,
 *                             <c8 model reference, d fraud probability,
 *                             c1 alerted (0 or 1)> each (17 bytes), in the
 *                             order kept, at most
 *                             MAX_SCORED_MODELS_PER_TRANSACTION; written only
 *                             while {x:<id>} exists for the same customer and
 *                             terminal, with the same expiry (PTTL of {x:<id>}
 *                             at the write: both go at the same millisecond)
 *   scored-models (no tag)    hash: model reference (8 bytes) -> JSON
 *                             {task, name, version, revision}; a reference
 *                             is the first 8 bytes of the SHA-256 of the
 *                             four fields (redisScores.ts), so every replica
 *                             derives the same one; a handful of entries,
 *                             no TTL
 *
 * Replies start with one status letter, then packed data.
 */

/** Shared Lua: the day of an event time, and the first day retention keeps. */
const COMMON = `
local SECONDS_PER_DAY = 86400
local function dayOf(t) return math.floor(t / SECONDS_PER_DAY) end
local function firstKeptDay(watermark, lateness, keepDays) return dayOf(watermark - lateness) - keepDays end
`;

/**
 * Records a transaction for its customer, or refuses it as late.
 * KEYS[1] customer. ARGV[1] <c8 id, d time, d amount, d lateness seconds,
 * d days kept before the watermark's day, d TTL ms> (one argument: each
 * one more costs the client an encoding and Redis a parse, per call).
 * Replies 'L' <d earliest accepted> and the customer's value (unchanged), or
 * 'N' (new) / 'D' (duplicate) and the customer's value after the update.
 */
export const CUSTOMER_RECORD = `${COMMON}
local id, time, amount, lateness, keepDays, ttl = struct.unpack('<c8ddddd', ARGV[1])
ttl = string.format('%.0f', ttl)
local value = redis.call('GET', KEYS[1])
local watermark, dayCount, recentCount = -math.huge, 0, 0
if value then watermark, dayCount, recentCount = struct.unpack('<dI4I4', value) else value = '' end
if time < watermark - lateness then
  -- Late, unless the transaction index shows a repeat (never late): then this is its history.
  return 'L' .. struct.pack('<d', watermark - lateness) .. value
end
-- Days and recent transactions stay packed; only the entries that change are read and rewritten.
local daysEnd = 16 + dayCount * 32
for entry = 0, recentCount - 1 do
  local at = daysEnd + 1 + entry * 24
  if string.sub(value, at, at + 7) == id then
    redis.call('PEXPIRE', KEYS[1], ttl)
    return 'D' .. value
  end
end
local days = string.sub(value, 17, daysEnd)
local recent = string.sub(value, daysEnd + 1)
local newest = id .. struct.pack('<dd', time, amount)
-- Adds one transaction to its day's aggregate (days ascending).
local function foldIntoDay(t, spent)
  local day = dayOf(t)
  local position = dayCount
  while position > 0 and struct.unpack('<d', days, (position - 1) * 32 + 1) > day do position = position - 1 end
  if position > 0 and struct.unpack('<d', days, (position - 1) * 32 + 1) == day then
    local base = (position - 1) * 32 + 1
    local _, count, sum, max = struct.unpack('<dddd', days, base)
    if spent > max then max = spent end
    days = string.sub(days, 1, base - 1) .. struct.pack('<dddd', day, count + 1, sum + spent, max) .. string.sub(days, base + 32)
  else
    local base = position * 32 + 1
    days = string.sub(days, 1, base - 1) .. struct.pack('<dddd', day, 1, spent, spent) .. string.sub(days, base)
    dayCount = dayCount + 1
  end
end
if time > watermark then
  watermark = time
  -- Transactions no accepted one can precede any more fold into their days (ascending), in order.
  local horizon = watermark - lateness
  local kept = {}
  for entry = 0, recentCount - 1 do
    local at = entry * 24 + 1
    local t, spent = struct.unpack('<dd', recent, at + 8)
    if t < horizon then
      foldIntoDay(t, spent)
    else
      kept[#kept + 1] = string.sub(recent, at, at + 23)
    end
  end
  recentCount = #kept
  recent = table.concat(kept)
  -- Days no window can reach any more: the oldest come first.
  local firstDay = firstKeptDay(watermark, lateness, keepDays)
  local drop = 0
  while drop < dayCount and struct.unpack('<d', days, drop * 32 + 1) < firstDay do drop = drop + 1 end
  if drop > 0 then
    days = string.sub(days, drop * 32 + 1)
    dayCount = dayCount - drop
  end
end
recent = recent .. newest
recentCount = recentCount + 1
if recentCount > ${MAX_RECENT_TRANSACTIONS} then
  -- Past the cap (entityRecords.ts), the earliest in event time (the first recorded among equals) folds into its day.
  local earliest, earliestTime = 0, struct.unpack('<d', recent, 9)
  for entry = 1, recentCount - 1 do
    local t = struct.unpack('<d', recent, entry * 24 + 9)
    if t < earliestTime then earliest, earliestTime = entry, t end
  end
  foldIntoDay(earliestTime, struct.unpack('<d', recent, earliest * 24 + 17))
  recent = string.sub(recent, 1, earliest * 24) .. string.sub(recent, earliest * 24 + 25)
  recentCount = recentCount - 1
end
local updated = struct.pack('<dI4I4', watermark, dayCount, recentCount) .. days .. recent
redis.call('SET', KEYS[1], updated, 'PX', ttl)
return 'N' .. updated
`;

/**
 * Counts a transaction at its terminal unless the terminal already counted
 * its id. The customer decides lateness and the transaction index decides
 * repeats the id set has forgotten; the store repairs a count they overrule
 * (TERMINAL_UNCOUNT).
 * KEYS[1] terminal, KEYS[2] its id set. ARGV[1] <c8 id, d time, d lateness
 * seconds, d days kept, d TTL ms>.
 * Replies 'S' (seen: not counted), 'N' (counted; the id set would know a
 * repeat) or 'U' (counted; the id is older than what the set remembers), then
 * <d watermark before this call> and the terminal's value.
 */
export const TERMINAL_RECORD = `${COMMON}
local id, time, lateness, keepDays, ttl = struct.unpack('<c8dddd', ARGV[1])
ttl = string.format('%.0f', ttl)
local value = redis.call('GET', KEYS[1])
local watermark, dayCount, fraudCount = -math.huge, 0, 0
if value then watermark, dayCount, fraudCount = struct.unpack('<dI4I4', value) else value = struct.pack('<dI4I4', watermark, 0, 0) end
local before = struct.pack('<d', watermark)
-- Remembered even when old, so that a repair can find it (the next pruning forgets it); NX: a
-- score already there (a repeat) stays, and nothing is written.
if redis.call('ZADD', KEYS[2], 'NX', time, id) == 0 then
  return 'S' .. before .. value
end
local pruned = false
local certain = time >= watermark - lateness
-- Days (ascending) and frauds stay packed; only the day counted is read and rewritten.
local daysEnd = 16 + dayCount * 16
local days = string.sub(value, 17, daysEnd)
local frauds = string.sub(value, daysEnd + 1, daysEnd + fraudCount * 24)
-- Frauds a correction ended (<I4 count> then 32 bytes each), kept as they are unless days go.
local ended = string.sub(value, daysEnd + fraudCount * 24 + 1)
local day = dayOf(time)
local position = dayCount
while position > 0 and struct.unpack('<d', days, (position - 1) * 16 + 1) > day do position = position - 1 end
if position > 0 and struct.unpack('<d', days, (position - 1) * 16 + 1) == day then
  local base = (position - 1) * 16 + 1
  days = string.sub(days, 1, base + 7) .. struct.pack('<d', struct.unpack('<d', days, base + 8) + 1) .. string.sub(days, base + 16)
else
  local base = position * 16 + 1
  days = string.sub(days, 1, base - 1) .. struct.pack('<dd', day, 1) .. string.sub(days, base)
  dayCount = dayCount + 1
end
if time > watermark then
  -- Days and frauds no window can reach go when the watermark rises (as entityRecords.ts does).
  -- Ids too old for a retry to pass the set unnoticed go at most once a minute of event time
  -- (the set then holds a little more than it must: a repeat it still knows is only known sooner).
  if math.floor((time - lateness) / 60) > math.floor((watermark - lateness) / 60) then
    -- The id just added (at time) stays: the bound is below it.
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.17g', time - lateness))
    redis.call('PEXPIRE', KEYS[2], ttl)
    pruned = true
  end
  watermark = time
  local firstDay = firstKeptDay(watermark, lateness, keepDays)
  local drop = 0
  while drop < dayCount and struct.unpack('<d', days, drop * 16 + 1) < firstDay do drop = drop + 1 end
  if drop > 0 then
    days = string.sub(days, drop * 16 + 1)
    dayCount = dayCount - drop
  end
  if fraudCount > 0 then
    local kept = {}
    for entry = 0, fraudCount - 1 do
      local base = entry * 24 + 1
      if struct.unpack('<d', frauds, base + 8) >= firstDay then kept[#kept + 1] = string.sub(frauds, base, base + 23) end
    end
    fraudCount = #kept
    frauds = table.concat(kept)
  end
  if #ended > 0 then
    local kept = {}
    for entry = 0, struct.unpack('<I4', ended) - 1 do
      local base = 5 + entry * 32
      if struct.unpack('<d', ended, base + 8) >= firstDay then kept[#kept + 1] = string.sub(ended, base, base + 31) end
    end
    ended = #kept > 0 and (struct.pack('<I4', #kept) .. table.concat(kept)) or ''
  end
end
local updated = struct.pack('<dI4I4', watermark, dayCount, fraudCount) .. days .. frauds .. ended
redis.call('SET', KEYS[1], updated, 'PX', ttl)
-- A set the id started (none before, or one a repair or pruning emptied) expires like the terminal.
if not pruned and redis.call('ZCARD', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ttl) end
return (certain and 'N' or 'U') .. before .. updated
`;

/**
 * Takes back a count TERMINAL_RECORD made that the customer or the
 * transaction index overruled. ARGV[2] '1' makes it conditional on the id
 * still being in the set (a retried repair must not count back twice).
 * KEYS[1] terminal, KEYS[2] its id set. ARGV[1] <c8 id, d time, d watermark
 * before the count>. Replies 1 when the count was taken back, else 0.
 */
export const TERMINAL_UNCOUNT = `${COMMON}
local id, time, before = struct.unpack('<c8dd', ARGV[1])
local removed = redis.call('ZREM', KEYS[2], id)
if removed == 0 and ARGV[2] == '1' then return 0 end
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local watermark, dayCount, fraudCount = struct.unpack('<dI4I4', value)
local day = dayOf(time)
local pos = 17
local dayPieces = {}
local changed = false
for entry = 1, dayCount do
  local entryDay, count
  entryDay, count, pos = struct.unpack('<dd', value, pos)
  if entryDay == day and not changed then
    count = count - 1
    changed = true
  end
  if count > 0 then dayPieces[#dayPieces + 1] = struct.pack('<dd', entryDay, count) end
end
if not changed then return 0 end
-- The watermark goes back when nothing newer was counted since.
if watermark == time and before < watermark then watermark = before end
local updated = struct.pack('<dI4I4', watermark, #dayPieces, fraudCount) .. table.concat(dayPieces) .. string.sub(value, pos)
redis.call('SET', KEYS[1], updated, 'KEEPTTL')
return 1
`;

/**
 * Writes a transaction index entry unless one exists, and replies what was
 * there (SET NX GET as a script, so that a batch's writes go in grouped
 * calls; a call alone goes as INDEX_WRITE_PLAIN). KEYS[1] index. ARGV[1]
 * value, ARGV[2] TTL ms.
 */
export const INDEX_WRITE = `return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX', 'GET')`;
export const INDEX_WRITE_PLAIN: PlainForm = ([key = ''], [value = '', ttlMs = '']) => ({ name: 'SET', args: [key, value, 'PX', ttlMs, 'NX', 'GET'] });

/** Reads a value (GET as a script, for grouped calls). KEYS[1] the key. */
export const VALUE_READ = `return redis.call('GET', KEYS[1])`;
export const VALUE_READ_PLAIN: PlainForm = ([key = '']) => ({ name: 'GET', args: [key] });

/** Reads the first ARGV[1] bytes of a value (GETRANGE as a script, for grouped calls). KEYS[1] the key. */
export const VALUE_HEAD = `return redis.call('GETRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)`;
export const VALUE_HEAD_PLAIN: PlainForm = ([key = ''], [bytes = '']) => ({ name: 'GETRANGE', args: [key, '0', String(Number(bytes) - 1)] });

/**
 * Removes the transaction index entry a refused (late) transaction wrote,
 * only if it still holds what that call wrote. KEYS[1] index, ARGV[1] value.
 */
export const INDEX_FORGET = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Records an outcome on the transaction index, by the statuses and order of
 * models/feature-spec.json's history.rules (outcomes, corrections): the first
 * report, then corrections (ARGV[2] '1': supersedes), at most
 * ${MAX_CORRECTIONS}, each appended, so the value holds the outcomes in force
 * in turn. KEYS[1] index, KEYS[2] its scores. ARGV[1] <c1 outcome ('f' or
 * 'l'), d known_at>.
 * Replies 'U' (unknown transaction); 'B' <d time> (known_at before the
 * transaction); or 'A' (applied), 'D' (duplicate), 'C' (conflict),
 * 'K' (corrected), 'O' (out of order), 'M' (too many corrections) followed by
 * the index value after the call: <c8 customer, c8 terminal, d time,
 * d amount> and one <c1 outcome, d known_at> per outcome recorded. Applied
 * and corrected outcomes reply a pair instead: that reply and the scores kept
 * with the transaction (empty when none), so the join costs no round trip.
 */
export const OUTCOME_RECORD = `
local value = redis.call('GET', KEYS[1])
if not value then return 'U' end
local time = struct.unpack('<d', value, 17)
local knownAt = struct.unpack('<d', ARGV[1], 2)
if knownAt < time then return 'B' .. string.sub(value, 17, 24) end
-- The entry is 32 bytes (24 when written without the amount), then 9 bytes per outcome: 8 is no multiple of 9.
local entryBytes = 32
if (#value - 24) % 9 == 0 then entryBytes = 24 end
local outcomes = (#value - entryBytes) / 9
if outcomes > 0 then
  local inForce = #value - 8
  if string.sub(value, inForce, inForce) == string.sub(ARGV[1], 1, 1) then return 'D' .. value end
  if ARGV[2] ~= '1' then return 'C' .. value end
  if knownAt < struct.unpack('<d', value, inForce + 1) then return 'O' .. value end
  if outcomes > ${MAX_CORRECTIONS} then return 'M' .. value end
end
local updated = value .. ARGV[1]
redis.call('SET', KEYS[1], updated, 'KEEPTTL')
return { (outcomes > 0 and 'K' or 'A') .. updated, redis.call('GET', KEYS[2]) or '' }
`;

/**
 * Keeps a transaction's scores. KEYS[1] index, KEYS[2] its scores (same hash
 * tag). ARGV[1] <c8 customer id, c8 terminal id> then the scores, 17 bytes
 * each as kept. ARGV[2] most model revisions per transaction. A score whose
 * model reference is already kept changes nothing (the first answer stands).
 * Replies 'U' (the index entry is gone: unknown transaction), 'R' (the id is
 * remembered for another customer or terminal), or 'K' <I4 scores not kept
 * because the transaction already keeps the most revisions>.
 */
export const SCORES_KEEP = `
local entry = redis.call('GET', KEYS[1])
if not entry then return 'U' end
if string.sub(entry, 1, 16) ~= string.sub(ARGV[1], 1, 16) then return 'R' end
local kept = redis.call('GET', KEYS[2]) or ''
local most = tonumber(ARGV[2])
local added, full = 0, 0
for at = 17, #ARGV[1], 17 do
  local score = string.sub(ARGV[1], at, at + 16)
  local reference = string.sub(score, 1, 8)
  local present = false
  for held = 1, #kept, 17 do
    if string.sub(kept, held, held + 7) == reference then present = true break end
  end
  if not present then
    if #kept / 17 >= most then
      full = full + 1
    else
      kept = kept .. score
      added = added + 1
    end
  end
end
if added > 0 then
  -- Expires with the transaction (a script sees one clock: the same millisecond); -1 is a key without TTL.
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('SET', KEYS[2], kept, 'PX', ttl) else redis.call('SET', KEYS[2], kept) end
end
return 'K' .. struct.pack('<I4', full)
`;

/**
 * Sets the frauds of one transaction at its terminal to what its outcomes
 * say (each fraud in force from its known_at until the next outcome's), so
 * that a retried report repairs a crash between the index and the terminal,
 * and a correction ends or adds its fraud. KEYS[1] terminal. ARGV[1]
 * <c8 transaction id, d day> then <d known_at, d until> per fraud (until
 * infinite while in force). Replies 1 when the terminal changed, 0 when it
 * already held them or has expired.
 */
export const TERMINAL_OUTCOME = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local watermark, dayCount, fraudCount = struct.unpack('<dI4I4', value)
local id = string.sub(ARGV[1], 1, 8)
local day = struct.unpack('<d', ARGV[1], 9)
local start = 17 + dayCount * 16
local endedAt = start + fraudCount * 24
-- Other transactions' frauds stay as they are; this one's are compared with what its outcomes say.
local frauds, ended, had, wanted = {}, {}, {}, {}
for entry = 0, fraudCount - 1 do
  local at = start + entry * 24
  local fraud = string.sub(value, at, at + 23)
  if string.sub(fraud, 1, 8) ~= id then frauds[#frauds + 1] = fraud else had[#had + 1] = fraud end
end
if #value > endedAt then
  for entry = 0, struct.unpack('<I4', value, endedAt) - 1 do
    local at = endedAt + 4 + entry * 32
    local fraud = string.sub(value, at, at + 31)
    if string.sub(fraud, 1, 8) ~= id then ended[#ended + 1] = fraud else had[#had + 1] = fraud end
  end
end
local inForce, over = {}, {}
for at = 17, #ARGV[1], 16 do
  local knownAt, untilAt = struct.unpack('<dd', ARGV[1], at)
  if untilAt == math.huge then
    inForce[#inForce + 1] = id .. struct.pack('<dd', day, knownAt)
  else
    over[#over + 1] = id .. struct.pack('<ddd', day, knownAt, untilAt)
  end
end
for _, fraud in ipairs(inForce) do wanted[#wanted + 1] = fraud end
for _, fraud in ipairs(over) do wanted[#wanted + 1] = fraud end
if table.concat(had) == table.concat(wanted) then return 0 end
for _, fraud in ipairs(inForce) do frauds[#frauds + 1] = fraud end
for _, fraud in ipairs(over) do ended[#ended + 1] = fraud end
local tail = #ended > 0 and (struct.pack('<I4', #ended) .. table.concat(ended)) or ''
local updated = struct.pack('<dI4I4', watermark, dayCount, #frauds) .. string.sub(value, 17, start - 1) .. table.concat(frauds) .. tail
redis.call('SET', KEYS[1], updated, 'KEEPTTL')
return 1
`;
