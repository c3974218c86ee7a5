"""The registry's Lua scripts for Redis: each runs atomically on the server, so two
processes admitting calls at once cannot both take the last line. Plain text.

Keys (one prefix per deployment): ``held`` (hash CallSid → process), ``pending``
(hash CallSid → ``nonce:expiry`` of its latest stream token), ``ended`` (sorted set,
scored by ``seq``, trimmed to a limit), ``after`` and ``after_order`` (what the
``<Connect action>`` answers: sealed messages, trimmed alike), ``transfers`` (hash
CallSid → a sealed transfer), ``seq`` (a counter ordering what is trimmed).
"""

from __future__ import annotations

# Calls of ``sid``'s kind (softphone "SP…" or phone) held or about to connect (a live
# token), ``sid`` itself left out; expired tokens are forgotten on the way.
LOAD = """
local function softphone(s) return string.sub(s, 1, 2) == 'SP' end
local function load_of(held, pending, sid, now)
  local mine = softphone(sid)
  local counted, n = {}, 0
  for _, s in ipairs(redis.call('HKEYS', held)) do
    if s ~= sid and softphone(s) == mine then counted[s] = true; n = n + 1 end
  end
  local p = redis.call('HGETALL', pending)
  for i = 1, #p, 2 do
    local s = p[i]
    local expiry = tonumber(string.match(p[i + 1], ':(%d+)$'))
    if expiry < now then redis.call('HDEL', pending, s)
    elseif s ~= sid and not counted[s] and softphone(s) == mine then n = n + 1 end
  end
  return n
end
local function trim(zset, hash, limit)
  local old = redis.call('ZRANGE', zset, 0, -(limit + 1))
  if #old > 0 then
    if hash then redis.call('HDEL', hash, unpack(old)) end
    redis.call('ZREMRANGEBYRANK', zset, 0, -(limit + 1))
  end
end
"""

# KEYS held pending ended; ARGV sid now limit nonce expiry → ok | held | ended | busy
OFFER = (
    LOAD
    + """
local held, pending, ended = KEYS[1], KEYS[2], KEYS[3]
local sid, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('HEXISTS', held, sid) == 1 then return 'held' end
if redis.call('ZSCORE', ended, sid) then return 'ended' end
if load_of(held, pending, sid, now) >= limit then return 'busy' end
redis.call('HSET', pending, sid, ARGV[4] .. ':' .. ARGV[5])
return 'ok'
"""
)

# KEYS held pending ended used transfers after after_order
# ARGV sid nonce now limit process used_ttl_ms → ok | used | superseded | over | busy
ADMIT = (
    LOAD
    + """
local held, pending, ended, used = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sid, nonce, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', used) == 1 then return 'used' end
local live = redis.call('HGET', pending, sid)
if live then
  local n, expiry = string.match(live, '^(.*):(%d+)$')
  if tonumber(expiry) >= now and n ~= nonce then return 'superseded' end
end
redis.call('SET', used, '1', 'PX', ARGV[6])
redis.call('HDEL', pending, sid)
if redis.call('HEXISTS', held, sid) == 1 or redis.call('ZSCORE', ended, sid) then
  return 'over'
end
if load_of(held, pending, sid, now) >= limit then return 'busy' end
redis.call('HSET', held, sid, ARGV[5])
redis.call('HDEL', KEYS[5], sid)
redis.call('HDEL', KEYS[6], sid)
redis.call('ZREM', KEYS[7], sid)
return 'ok'
"""
)

# KEYS held ended transfers after after_order seq lease
# ARGV sid process limit after ('' for none) orphan ('1': only if the lease is gone)
# → 1 if released, 0 if ``process`` does not hold the call (or its lease is alive)
RELEASE = (
    LOAD
    + """
local held, ended, transfers, after, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local sid, limit, answer = ARGV[1], tonumber(ARGV[3]), ARGV[4]
if redis.call('HGET', held, sid) ~= ARGV[2] then return 0 end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
redis.call('HDEL', held, sid)
redis.call('ZADD', ended, redis.call('INCR', KEYS[6]), sid)
trim(ended, false, limit)
local transfer = redis.call('HGET', transfers, sid)
redis.call('HDEL', transfers, sid)
if transfer then answer = transfer end
if answer ~= '' then
  redis.call('HSET', after, sid, answer)
  redis.call('ZADD', order, redis.call('INCR', KEYS[6]), sid)
  trim(order, after, limit)
end
return 1
"""
)

# KEYS held transfers; ARGV sid sealed → 1 if remembered (the call is held)
TRANSFERRING = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# KEYS after after_order; ARGV sid → the sealed answer, once (or nil)
TAKE_AFTER = """
local answer = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return answer
"""

# KEYS bucket; ARGV now rate burst spend('1' or '0') ttl_ms → the level left, as text
# (the failure throttle's token bucket, shared by every process)
BUCKET = """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local level = tonumber(redis.call('HGET', KEYS[1], 'level'))
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
if level == nil then
  if ARGV[4] == '0' then return tostring(burst) end
  level, last = burst, now
end
level = math.min(burst, level + (now - last) * rate)
if ARGV[4] == '1' and level >= 1 then level = level - 1 end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'last', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return tostring(level)
"""
