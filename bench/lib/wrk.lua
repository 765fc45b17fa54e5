-- The bench's wrk script (bench/lib/wrk.ts runs `wrk -t1 -s bench/lib/wrk.lua`).
--
-- One wrk thread, so one Lua state sends every request and sees every answer: a queue or a
-- pool kept here is the only one. Configured by the environment (every Lua state of wrk
-- reads it: the thread's and the main one that runs setup and done):
--
--   TESSERA_WRK_MODE    fixed  one request, sent again and again (wrk's static path: no Lua per request)
--                       cycle  request i is entry i mod n (password sign-in: forms rotated)
--                       once   each entry at most once, in order (one pre-minted code per request)
--                       chain  refresh-token rotation: entry 1 is the request up to its
--                              "Content-Length: ", entry 2 the body's prefix, the rest are seed
--                              tokens; each answer's refresh_token goes back on the stack and
--                              each request pops one, so no token is ever presented twice
--   TESSERA_WRK_DATA    the entries: "<byte length>\n<bytes>" one after the other (whole,
--                       ready-made HTTP requests except in chain mode)
--   TESSERA_WRK_AMOUNT  optional: send at most this many requests
--   TESSERA_WRK_OUT     where done() writes the result (JSON)
--
-- When a pool is spent (once, chain with an empty stack, or AMOUNT reached) request() returns
-- an empty string: wrk writes nothing on that connection, which then waits for an answer
-- that never comes. No entry is ever sent twice. The script tells the harness on stderr
-- ("exhausted", then "drained" once every request sent was answered), stops its thread, and
-- the harness stops wrk with SIGINT, so the run's duration ends with its last answer.

local mode = os.getenv('TESSERA_WRK_MODE') or 'fixed'
local amount = tonumber(os.getenv('TESSERA_WRK_AMOUNT') or '')

local function read_entries(path)
  local f = assert(io.open(path, 'rb'))
  local data = f:read('*a')
  f:close()
  local entries, pos = {}, 1
  while pos <= #data do
    local nl = data:find('\n', pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    entries[#entries + 1] = data:sub(nl + 1, nl + len)
    pos = nl + len + 1
  end
  return entries
end

-- utime + stime of this process (all its threads), in clock ticks, as bench/lib/cpu.ts reads it.
local function cpu_ticks()
  local f = io.open('/proc/self/stat', 'r')
  if not f then return -1 end
  local rest = f:read('*a'):match('.*%) (.*)')
  f:close()
  local fields = {}
  for w in rest:gmatch('%S+') do fields[#fields + 1] = w end
  return tonumber(fields[12]) + tonumber(fields[13])
end

local function tell(what)
  io.stderr:write('tessera-wrk: ' .. what .. '\n')
  io.stderr:flush()
end

-- Thread state. Globals, so that done() (another Lua state) can read them with thread:get.
statuses = {}
sent = 0
answered = 0
exhausted = false
cpu_start = -1

local entries, head, prefix, stack
local next_entry = 1
local drained = false
local verifying = true

local function urlencode(s)
  return (s:gsub('[^%w%-%._~]', function(c) return string.format('%%%02X', c:byte()) end))
end

local function chained(token)
  local body = prefix .. urlencode(token)
  return head .. #body .. '\r\n\r\n' .. body
end

function init(args)
  entries = read_entries(os.getenv('TESSERA_WRK_DATA'))
  if mode == 'chain' then
    head = table.remove(entries, 1)
    prefix = table.remove(entries, 1)
    stack = entries
  elseif mode == 'fixed' then
    -- wrk.init (wrk's own, which calls this) builds the static request with wrk.format()
    -- once this returns; hand it the ready-made one.
    local raw = entries[1]
    wrk.format = function() return raw end
  end
  cpu_start = cpu_ticks()
  tell('started')
end

-- Every request sent was answered and no more will be: end this thread's loop now (wrk
-- would otherwise stop it at its next 100 ms tick) and have the harness end the run.
local function finish()
  drained = true
  wrk.thread:stop()
  tell('drained')
end

local function spent()
  if not exhausted then
    exhausted = true
    tell('exhausted')
  end
  if not drained and answered >= sent then finish() end
  return ''
end

local function take()
  if mode == 'fixed' then return entries[1] end
  if mode == 'cycle' then
    local r = entries[(next_entry - 1) % #entries + 1]
    next_entry = next_entry + 1
    return r
  end
  if mode == 'once' then
    local r = entries[next_entry]
    if r == nil then return nil end
    next_entry = next_entry + 1
    return r
  end
  local token = table.remove(stack)
  if token == nil then return nil end
  return chained(token)
end

-- A request() function makes wrk call Lua for every request; the fixed mode without an
-- amount leaves it undefined and stays on wrk's static path.
if mode ~= 'fixed' or amount then
  function request()
    -- wrk calls request() once before the run to check that it parses; that one is never
    -- sent, so it must not spend an entry.
    if verifying then
      verifying = false
      if mode == 'chain' then return chained(stack[#stack] or 'x') end
      return entries[1]
    end
    if exhausted or (amount and sent >= amount) then return spent() end
    local r = take()
    if r == nil then return spent() end
    sent = sent + 1
    return r
  end
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if mode == 'chain' and status == 200 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then stack[#stack + 1] = token end
  end
  if exhausted and not drained and answered >= sent then finish() end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local cpu_end = cpu_ticks()
  local t = threads[1]
  local parts = {}
  for code, n in pairs(t:get('statuses')) do parts[#parts + 1] = string.format('"%d":%d', code, n) end
  -- The latency histogram (µs → count) as wrk holds it: the harness undoes wrk's
  -- coordinated-omission correction and takes its own percentiles (see wrk.ts).
  local hist = {}
  for i = 1, #latency do
    local value, count = latency(i)
    hist[#hist + 1] = string.format('[%d,%d]', value, count)
  end
  local e = summary.errors
  local json = string.format(
    '{"duration":%d,"requests":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"statuses":{%s},"sent":%d,"answered":%d,"exhausted":%s,"cpuStartTicks":%d,"cpuEndTicks":%d,"latency":[%s]}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ','), t:get('sent'), t:get('answered'), tostring(t:get('exhausted')),
    t:get('cpu_start'), cpu_end, table.concat(hist, ','))
  local f = assert(io.open(os.getenv('TESSERA_WRK_OUT'), 'w'))
  f:write(json)
  f:close()
end
