# SPDX-License-Identifier: Apache-2.0
"""The Lua scripts of the Redis store: each storage operation that reads and then writes is one
script, so it is atomic across every process that shares the Redis (never read-then-write).

Every script gets the key prefix as ``ARGV[1]`` and one key, ``KEYS[1]`` (the registry's sorted
set), which routes it in Cluster mode: the prefix carries a hash tag, so every key of a sidecar
lives in the slot of that key.

The scripts whose writes an answer to a client stands on take, as their last ``ARGV``, how many
replicas must hold the write (``min_replicas_acks``), and refuse before they change anything
while fewer replicas are online: a new master that is alone after a failover would otherwise
apply a write that ``WAIT`` then cannot confirm, and state would change that no client was told
about (a rotation nobody received, then a retry outside the grace window revoking the family).

Records with a lifetime are hashes with the value in ``v`` and the expiry time in ``e``: reads
compare ``e`` with the caller's clock (so every process agrees on the instant a record ends), and
a Redis TTL removes the key itself soon after.
"""

from __future__ import annotations

_COMMON = """
local p = ARGV[1]
local function need_replicas()
  local needed = tonumber(ARGV[#ARGV])
  if needed == 0 then return end
  local online = 0
  for _ in string.gmatch(redis.call('INFO', 'replication'), 'state=online') do online = online + 1 end
  if online < needed then
    error({err = 'NOREPLICAS ' .. online .. ' replicas online, ' .. needed .. ' needed'})
  end
end
local function px(until_, now)
  return math.max(1, math.ceil((until_ - now) * 1000))
end
local function release(holder)
  local cid = redis.call('GETDEL', p .. 'holder:' .. holder)
  if cid then redis.call('ZREM', p .. 'holds:' .. cid, holder) end
end
local function held(cid, now)
  local k = p .. 'holds:' .. cid
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  return redis.call('ZCARD', k) > 0
end
local function evict(cid)
  redis.call('ZREM', p .. 'clients', cid)
  redis.call('DEL', p .. 'client:' .. cid, p .. 'holds:' .. cid)
end
local function expire_idle(now, ttl)
  local n = 0
  local idle = redis.call('ZRANGEBYSCORE', p .. 'clients', '-inf', now - ttl, 'LIMIT', 0, 100)
  for _, cid in ipairs(idle) do
    if not held(cid, now) then
      evict(cid)
      n = n + 1
    end
  end
  return n
end
local function hold(cid, holder, until_, now)
  if not redis.call('ZSCORE', p .. 'clients', cid) then return end
  redis.call('ZADD', p .. 'holds:' .. cid, 'GT', until_, holder)
  local key = p .. 'holder:' .. holder
  if redis.call('PTTL', key) < px(until_, now) then
    redis.call('SET', key, cid, 'PX', px(until_, now))
  end
end
local function put(key, until_, now, ...)
  redis.call('HSET', key, 'e', until_, ...)
  redis.call('PEXPIRE', key, px(until_, now))
end
local function revoke(sid, until_, now)
  redis.call('SET', p .. 'rev:' .. sid, until_, 'PX', px(until_, now))
  redis.call('DEL', p .. 'fam:' .. sid, p .. 'up:' .. sid)
  release(sid)
end
"""

# ARGV: prefix, client id, client JSON, now, max_clients, idle ttl, replicas
# -> {added, evicted idle, evicted for capacity, clients}
ADD_CLIENT = (
    _COMMON
    + """
need_replicas()
local cid, now, max, ttl = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local idle = expire_idle(now, ttl)
local capacity = 0
if redis.call('ZCARD', p .. 'clients') >= max then
  local victim = nil
  for _, c in ipairs(redis.call('ZRANGE', p .. 'clients', 0, -1)) do
    if not held(c, now) then
      victim = c
      break
    end
  end
  if not victim then return {0, idle, 0, redis.call('ZCARD', p .. 'clients')} end
  evict(victim)
  capacity = 1
end
redis.call('ZADD', p .. 'clients', now, cid)
redis.call('SET', p .. 'client:' .. cid, ARGV[3])
return {1, idle, capacity, redis.call('ZCARD', p .. 'clients')}
"""
)

# ARGV: prefix, client id, now, idle ttl -> {client JSON or '', evicted idle, clients}
GET_CLIENT = (
    _COMMON
    + """
local idle = expire_idle(tonumber(ARGV[3]), tonumber(ARGV[4]))
local json = redis.call('GET', p .. 'client:' .. ARGV[2]) or ''
return {json, idle, redis.call('ZCARD', p .. 'clients')}
"""
)

# ARGV: prefix, client id, holder, until, now
HOLD = (
    _COMMON
    + """
hold(ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))
"""
)

# ARGV: prefix, pending key, client id, expires at, JSON, now
PUT_PENDING = (
    _COMMON
    + """
local until_, now = tonumber(ARGV[4]), tonumber(ARGV[6])
put(p .. 'pending:' .. ARGV[2], until_, now, 'v', ARGV[5])
hold(ARGV[3], ARGV[2], until_, now)
"""
)

# ARGV: prefix, pending key, JSON, now -> 1 when replaced; 0 when taken or expired (its expiry stays)
REPLACE_PENDING = (
    _COMMON
    + """
local key = p .. 'pending:' .. ARGV[2]
local until_ = redis.call('HGET', key, 'e')
if not until_ or tonumber(until_) <= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', key, 'v', ARGV[3])
return 1
"""
)

# ARGV: prefix, pending key, now -> JSON or false
TAKE_PENDING = (
    _COMMON
    + """
local key = p .. 'pending:' .. ARGV[2]
local record = redis.call('HMGET', key, 'v', 'e')
redis.call('DEL', key)
release(ARGV[2])
if record[1] and tonumber(record[2]) > tonumber(ARGV[3]) then return record[1] end
return false
"""
)

# ARGV: prefix, code key, expires at, JSON, now, replicas
PUT_CODE = (
    _COMMON
    + """
need_replicas()
put(p .. 'code:' .. ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5]), 'v', ARGV[4], 'u', 0)
"""
)

# ARGV: prefix, code key, now, replicas -> {JSON, used before} or {}
CONSUME_CODE = (
    _COMMON
    + """
need_replicas()
local key = p .. 'code:' .. ARGV[2]
local record = redis.call('HMGET', key, 'v', 'e', 'u')
if not record[1] or tonumber(record[2]) <= tonumber(ARGV[3]) then return {} end
redis.call('HSET', key, 'u', 1)
return {record[1], record[3]}
"""
)

# ARGV: prefix, token key, session id, family expires at, JSON, now, replicas
PUT_REFRESH = (
    _COMMON
    + """
need_replicas()
local until_, now = tonumber(ARGV[4]), tonumber(ARGV[6])
put(p .. 'rt:' .. ARGV[2], until_, now, 'v', ARGV[5], 's', ARGV[3])
put(p .. 'fam:' .. ARGV[3], until_, now, 'cur', ARGV[2])
"""
)

# ARGV: prefix, token key, now, successor key, successor JSON, sealed answer ('' for none),
# grace until, replicas -> {'ok'} | {'repeated', sealed answer} | {'reused'} | {'unknown'}
ROTATE_REFRESH = (
    _COMMON
    + """
need_replicas()
local now = tonumber(ARGV[3])
local record = redis.call('HMGET', p .. 'rt:' .. ARGV[2], 'e', 's')
if not record[1] or tonumber(record[1]) <= now then return {'unknown'} end
local sid = record[2]
local family = redis.call('HMGET', p .. 'fam:' .. sid, 'cur', 'e')
local revoked = redis.call('GET', p .. 'rev:' .. sid)
if not family[1] or tonumber(family[2]) <= now or (revoked and tonumber(revoked) > now) then
  return {'unknown'}
end
local grace = p .. 'grace:' .. ARGV[2]
if family[1] ~= ARGV[2] then
  local answer = redis.call('HMGET', grace, 'n', 'v', 'e')
  if answer[1] == family[1] and tonumber(answer[3]) > now then return {'repeated', answer[2]} end
  -- RFC 9700 §4.14.2: a rotated-away token came back; someone holds a copy.
  revoke(sid, tonumber(record[1]), now)
  return {'reused'}
end
put(p .. 'rt:' .. ARGV[4], tonumber(family[2]), now, 'v', ARGV[5], 's', sid)
redis.call('HSET', p .. 'fam:' .. sid, 'cur', ARGV[4])
if ARGV[6] ~= '' then put(grace, tonumber(ARGV[7]), now, 'n', ARGV[4], 'v', ARGV[6]) end
return {'ok'}
"""
)

# ARGV: prefix, session id, until, now, replicas
REVOKE_SESSION = (
    _COMMON
    + """
need_replicas()
revoke(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
"""
)

# ARGV: prefix, session id, provider, sealed tokens, until, now
PUT_UPSTREAM = (
    _COMMON
    + """
local key, until_, now = p .. 'up:' .. ARGV[2], tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('HSET', key, 'v:' .. ARGV[3], ARGV[4], 'e:' .. ARGV[3], until_, 'd:' .. ARGV[3], ARGV[7])
if redis.call('PTTL', key) < px(until_, now) then redis.call('PEXPIRE', key, px(until_, now)) end
"""
)

# ARGV: prefix, key, window length in ms -> hits in the window so far (it starts at the first hit)
COUNT_HIT = (
    _COMMON
    + """
local key = p .. 'hits:' .. ARGV[2]
local hits = redis.call('INCR', key)
if hits == 1 then redis.call('PEXPIRE', key, ARGV[3]) end
return hits
"""
)

# Compare-and-set of refreshed upstream tokens: ARGV[2] session, ARGV[3] provider, ARGV[4] the
# digest of the access token they replace, ARGV[5] the sealed new tokens, ARGV[6] their digest,
# ARGV[7] now. The expiry (the session's) stays. A record written before digests were kept has
# none, and is replaced.
REPLACE_UPSTREAM = (
    _COMMON
    + """
local key, f = p .. 'up:' .. ARGV[2], ARGV[3]
local found = redis.call('HMGET', key, 'e:' .. f, 'd:' .. f)
if not found[1] or tonumber(found[1]) <= tonumber(ARGV[7]) then return 0 end
if found[2] and found[2] ~= ARGV[4] then return 0 end
redis.call('HSET', key, 'v:' .. f, ARGV[5], 'd:' .. f, ARGV[6])
return 1
"""
)

# Ends a lease (ARGV[2] its key) only for the holder that took it (ARGV[3]): a holder whose lease
# expired must not end the next holder's.
RELEASE_LEASE = """
if redis.call('GET', ARGV[2]) == ARGV[3] then redis.call('DEL', ARGV[2]) end
"""

# ARGV: prefix, consent key, scopes JSON, until, now
PUT_CONSENT = (
    _COMMON
    + """
put(p .. 'consent:' .. ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), 'v', ARGV[3])
"""
)
