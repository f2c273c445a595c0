-- One account's per-minute GCRA budget and monthly cycle counter, in one
-- round trip. The GCRA is governor 0.10's (src/gcra.rs): T = replenish
-- interval, tau = T * (burst - 1), state = the theoretical arrival time
-- (TAT) in nanoseconds since the key's start, time from the Redis server.
--
-- KEYS[1] budget hash {s = start (unix us), a = TAT (ns since s)}
-- KEYS[2] month counter: cycles committed or reserved this month
-- ARGV[1] T in ns (0 = no rate limit)      ARGV[2] tau in ns
-- ARGV[3] cycles to reserve (0 = none)     ARGV[4] monthly limit (0 = none)
-- ARGV[5] stored usage to seed a missing counter (-1 = not known yet)
-- ARGV[6] counter lifetime in seconds      ARGV[7] now in unix us ('' = TIME)
-- Returns {allowed (1, 0, -1 = seed needed), remaining, wait ns, now us,
--          cycles used, cycles reserved (1/0)}
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local cycles = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local now_us
if ARGV[7] ~= '' then
  now_us = tonumber(ARGV[7])
else
  local clock = redis.call('TIME')
  now_us = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end

local used = tonumber(redis.call('GET', KEYS[2]))
if not used then
  local seed = tonumber(ARGV[5])
  if seed < 0 then
    return {-1, 0, 0, now_us, 0, 0}
  end
  used = seed
  redis.call('SET', KEYS[2], used, 'EX', ARGV[6])
end

local remaining = 0
if t > 0 then
  local state = redis.call('HMGET', KEYS[1], 's', 'a')
  local start = tonumber(state[1]) or now_us
  local t0 = math.max(now_us - start, 0) * 1000
  local tat = tonumber(state[2]) or t0
  -- Keep the figures far below 2^53 so doubles stay exact integers.
  if t0 > 1e15 then
    tat = tat - t0
    start = now_us
    t0 = 0
  end
  local earliest = math.max(tat - tau, 0)
  if t0 < earliest then
    return {0, 0, earliest - t0, now_us, used, 0}
  end
  local next_tat = math.max(tat, t0) + t
  local room = math.min(math.max(t0 + tau + t - next_tat, 0), tau + t)
  remaining = (room - room % t) / t
  redis.call('HSET', KEYS[1], 's', start, 'a', next_tat)
  -- Once TAT is past, the budget is full again: the same as no key.
  redis.call('PEXPIRE', KEYS[1], math.ceil((next_tat - t0) / 1e6) + 1000)
end

if cycles > 0 then
  if quota > 0 and used + cycles > quota then
    return {1, remaining, 0, now_us, used, 0}
  end
  used = redis.call('INCRBY', KEYS[2], cycles)
  return {1, remaining, 0, now_us, used, 1}
end
return {1, remaining, 0, now_us, used, 0}
