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
 *             {t:<id>}:ids    sorted set: ids counted here (score: event time)
 *                             whose event time is within the lateness of the
 *                             terminal's watermark; tells a retry from a new one
 *   transaction {x:<id>}      <c8 customer id, c8 terminal id, d time> (first
 *                             writer wins), then <c1 outcome, d known_at> once
 *                             reported
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
 * KEYS[1] customer. ARGV[1] <c8 id, d time, d amount>, ARGV[2] lateness
 * seconds, ARGV[3] days kept before the watermark's day, ARGV[4] TTL ms.
 * Replies 'L' <d earliest accepted> and the customer's value (unchanged), or
 * 'N' (new) / 'D' (duplicate) and the customer's value after the update.
 */
export const CUSTOMER_RECORD = `${COMMON}
local id, time, amount = struct.unpack('<c8dd', ARGV[1])
local lateness, keepDays = tonumber(ARGV[2]), tonumber(ARGV[3])
local value = redis.call('GET', KEYS[1])
local watermark, dayCount, recentCount = -math.huge, 0, 0
if value then watermark, dayCount, recentCount = struct.unpack('<dI4I4', value) end
if time < watermark - lateness then
  -- Late, unless the transaction index shows a repeat (never late): then this is its history.
  return 'L' .. struct.pack('<d', watermark - lateness) .. (value or '')
end
local pos = 17
local days, counts, sums, maxes = {}, {}, {}, {}
for entry = 1, dayCount do
  days[entry], counts[entry], sums[entry], maxes[entry], pos = struct.unpack('<dddd', value, pos)
end
local ids, times, amounts = {}, {}, {}
for entry = 1, recentCount do
  ids[entry], times[entry], amounts[entry], pos = struct.unpack('<c8dd', value, pos)
  if ids[entry] == id then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return 'D' .. value
  end
end
ids[recentCount + 1], times[recentCount + 1], amounts[recentCount + 1] = id, time, amount
if time > watermark then watermark = time end
-- Transactions no accepted one can precede any more fold into their days, in order.
local horizon = watermark - lateness
local pieces = {}
local kept = 0
for entry = 1, recentCount + 1 do
  local t = times[entry]
  if t < horizon then
    local day = dayOf(t)
    local position = dayCount
    while position > 0 and days[position] > day do position = position - 1 end
    if position > 0 and days[position] == day then
      counts[position] = counts[position] + 1
      sums[position] = sums[position] + amounts[entry]
      if amounts[entry] > maxes[position] then maxes[position] = amounts[entry] end
    else
      table.insert(days, position + 1, day)
      table.insert(counts, position + 1, 1)
      table.insert(sums, position + 1, amounts[entry])
      table.insert(maxes, position + 1, amounts[entry])
      dayCount = dayCount + 1
    end
  else
    kept = kept + 1
    pieces[#pieces + 1] = ids[entry] .. struct.pack('<dd', t, amounts[entry])
  end
end
local firstDay = firstKeptDay(watermark, lateness, keepDays)
local dayPieces = {}
for d = 1, dayCount do
  if days[d] >= firstDay then
    dayPieces[#dayPieces + 1] = struct.pack('<dddd', days[d], counts[d], sums[d], maxes[d])
  end
end
local updated = struct.pack('<dI4I4', watermark, #dayPieces, kept) .. table.concat(dayPieces) .. table.concat(pieces)
redis.call('SET', KEYS[1], updated, 'PX', ARGV[4])
return 'N' .. updated
`;

/**
 * Counts a transaction at its terminal unless the terminal already counted
 * its id. The customer decides lateness and the transaction index decides
 * repeats the id set has forgotten; the store repairs a count they overrule
 * (TERMINAL_UNCOUNT).
 * KEYS[1] terminal, KEYS[2] its id set. ARGV[1] <c8 id, d time>, ARGV[2]
 * lateness seconds, ARGV[3] days kept, ARGV[4] TTL ms.
 * Replies 'S' (seen: not counted), 'N' (counted; the id set would know a
 * repeat) or 'U' (counted; the id is older than what the set remembers), then
 * <d watermark before this call> and the terminal's value.
 */
export const TERMINAL_RECORD = `${COMMON}
local id, time = struct.unpack('<c8d', ARGV[1])
local lateness, keepDays = tonumber(ARGV[2]), tonumber(ARGV[3])
local value = redis.call('GET', KEYS[1])
local watermark, dayCount, fraudCount = -math.huge, 0, 0
if value then watermark, dayCount, fraudCount = struct.unpack('<dI4I4', value) end
local before = struct.pack('<d', watermark)
if redis.call('ZSCORE', KEYS[2], id) then
  return 'S' .. before .. (value or struct.pack('<dI4I4', watermark, 0, 0))
end
local certain = time >= watermark - lateness
local pos = 17
local day = dayOf(time)
local days, counts = {}, {}
for entry = 1, dayCount do
  days[entry], counts[entry], pos = struct.unpack('<dd', value, pos)
end
local position = dayCount
while position > 0 and days[position] > day do position = position - 1 end
if position > 0 and days[position] == day then
  counts[position] = counts[position] + 1
else
  table.insert(days, position + 1, day)
  table.insert(counts, position + 1, 1)
  dayCount = dayCount + 1
end
-- Days no window can reach go when the watermark rises (as entityRecords.ts does).
local firstDay = -math.huge
if time > watermark then
  watermark = time
  firstDay = firstKeptDay(watermark, lateness, keepDays)
end
local dayPieces = {}
for entry = 1, dayCount do
  if days[entry] >= firstDay then dayPieces[#dayPieces + 1] = struct.pack('<dd', days[entry], counts[entry]) end
end
local fraudPieces = {}
for entry = 1, fraudCount do
  local fraudId, fraudDay, knownAt
  fraudId, fraudDay, knownAt, pos = struct.unpack('<c8dd', value, pos)
  if fraudDay >= firstDay then fraudPieces[#fraudPieces + 1] = fraudId .. struct.pack('<dd', fraudDay, knownAt) end
end
local updated = struct.pack('<dI4I4', watermark, #dayPieces, #fraudPieces) .. table.concat(dayPieces) .. table.concat(fraudPieces)
redis.call('SET', KEYS[1], updated, 'PX', ARGV[4])
-- Forget ids too old for a retry to pass the set unnoticed, then remember
-- this one (even an old one, so a repair can find it).
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.17g', watermark - lateness))
redis.call('ZADD', KEYS[2], time, id)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
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
 * Removes the transaction index entry a refused (late) transaction wrote,
 * only if it still holds what that call wrote. KEYS[1] index, ARGV[1] value.
 */
export const INDEX_FORGET = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Records an outcome on the transaction index, first report wins.
 * KEYS[1] index. ARGV[1] <c1 outcome ('f' or 'l'), d known_at>.
 * Replies 'U' (unknown transaction); 'B' <d time> (known_at before the
 * transaction); or 'A' (applied), 'D' (duplicate), 'C' (conflict) followed by
 * the index value after the call: <c8 customer, c8 terminal, d time,
 * c1 outcome, d known_at>.
 */
export const OUTCOME_RECORD = `
local value = redis.call('GET', KEYS[1])
if not value then return 'U' end
local time = struct.unpack('<d', value, 17)
local knownAt = struct.unpack('<d', ARGV[1], 2)
if knownAt < time then return 'B' .. string.sub(value, 17, 24) end
if #value > 24 then
  if string.sub(value, 25, 25) == string.sub(ARGV[1], 1, 1) then return 'D' .. value end
  return 'C' .. value
end
local updated = value .. ARGV[1]
redis.call('SET', KEYS[1], updated, 'KEEPTTL')
return 'A' .. updated
`;

/**
 * Adds a confirmed fraud to its terminal, once per transaction id, so that a
 * retried report repairs a crash between the index and the terminal.
 * KEYS[1] terminal. ARGV[1] <c8 transaction id, d day, d known_at>.
 * Replies 1 when added, 0 when already there or the terminal has expired.
 */
export const TERMINAL_FRAUD = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local watermark, dayCount, fraudCount = struct.unpack('<dI4I4', value)
local id = string.sub(ARGV[1], 1, 8)
local start = 17 + dayCount * 16
for entry = 0, fraudCount - 1 do
  local at = start + entry * 24
  if string.sub(value, at, at + 7) == id then return 0 end
end
local updated = struct.pack('<dI4I4', watermark, dayCount, fraudCount + 1) .. string.sub(value, 17) .. ARGV[1]
redis.call('SET', KEYS[1], updated, 'KEEPTTL')
return 1
`;
