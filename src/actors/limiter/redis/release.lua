-- Gives back cycles reserved by a request that did not commit; a counter
-- that expired or was flushed meanwhile is reseeded from the store later.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECRBY', KEYS[1], ARGV[1])
end
return 0
