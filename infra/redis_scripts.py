"""The Lua scripts of the Redis free/busy sink (infra/redis_freebusy.py): each runs
atomically in Redis, so a batch's change and its tracking positions move together."""

APPLY = """
local p, nf = ARGV[1], tonumber(ARGV[2])
local tracking = p .. 'tracking'
for i = 0, nf - 1 do
  if (redis.call('HGET', tracking, ARGV[3 + i * 3]) or '0') ~= ARGV[4 + i * 3] then
    return -1
  end
end
local base = 3 + nf * 3
local n = tonumber(ARGV[base])
for i = 0, n - 1 do
  local eid, expected = ARGV[base + 1 + i * 7], ARGV[base + 2 + i * 7]
  if (redis.call('HGET', p .. 'ev:' .. eid, 'version') or '0') ~= expected then return -1 end
end
local function union(values)
  if #values == 1 then return values[1] end
  local a, b, c = 0, 0, 0
  for _, v in ipairs(values) do
    local x, y, z = struct.unpack('<i4i4i4', v)
    a, b, c = bit.bor(a, x), bit.bor(b, y), bit.bor(c, z)
  end
  return struct.pack('<i4i4i4', a, b, c)
end
local touched = {}
for i = 0, n - 1 do
  local at = base + 1 + i * 7
  local eid, masks = ARGV[at], ARGV[at + 6]
  local ev = p .. 'ev:' .. eid
  local old = cjson.decode(redis.call('HGET', ev, 'index') or '{"days":[],"series":[]}')
  local new = cjson.decode(ARGV[at + 3])
  for _, d in ipairs(old.days) do
    local k = d[1] .. ':' .. d[2]
    redis.call('HDEL', p .. 'c:' .. k, eid)
    touched[k] = true
  end
  for _, s in ipairs(old.series) do redis.call('HDEL', p .. 's:' .. s[1], eid) end
  for j, d in ipairs(new.days) do
    local k = d[1] .. ':' .. d[2]
    redis.call('HSET', p .. 'c:' .. k, eid, string.sub(masks, j * 12 - 11, j * 12))  -- MASK_BYTES
    touched[k] = true
  end
  for _, s in ipairs(new.series) do
    redis.call('HSET', p .. 's:' .. s[1], eid, s[2] .. ' ' .. s[3])
  end
  redis.call('HSET', ev, 'index', ARGV[at + 3], 'state', ARGV[at + 4],
             'declined', ARGV[at + 5], 'version', ARGV[at + 2])
end
for k, _ in pairs(touched) do
  local values = redis.call('HVALS', p .. 'c:' .. k)
  if #values == 0 then redis.call('DEL', p .. 'm:' .. k)
  else redis.call('SET', p .. 'm:' .. k, union(values)) end
end
for i = 0, nf - 1 do
  if ARGV[5 + i * 3] ~= ARGV[4 + i * 3] then
    redis.call('HSET', tracking, ARGV[3 + i * 3], ARGV[5 + i * 3])
  end
end
return 1
"""


ADVANCE = """
local key = ARGV[1] .. 'tracking'
for i = 2, #ARGV, 2 do
  local field, id = ARGV[i], ARGV[i + 1]
  if tonumber(redis.call('HGET', key, field) or '0') < tonumber(id) then
    redis.call('HSET', key, field, id)
  end
end
return 1
"""


# One step of emptying the projection: the keys of one SCAN step are deleted where they
# are, instead of travelling to the client and back.
RESET = """
local found = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys = found[2]
for i = 1, #keys, 500 do
  redis.call('UNLINK', unpack(keys, i, math.min(i + 499, #keys)))
end
return found[1]
"""
