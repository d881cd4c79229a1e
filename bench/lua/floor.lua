-- Baselines measured in the same run as the billing engine:
--  * timed GETs: one fiber sleeps until each zero instant (no index, no
--    transaction, no WAL, no outbox) and hands the GET to a pool of sender
--    fibers: the floor for "a GET at an instant" from Tarantool;
--  * burst GETs: a pool of fibers sends N GETs as fast as http.client can:
--    the ceiling for a storm.
-- Both keep connections alive, the best http.client can do.
package.path = debug.getinfo(1, 'S').source:sub(2):match('^(.*)/[^/]*$') .. '/?.lua;' .. package.path
local common = require('common')
local fiber = require('fiber')
local http = require('http.client')
local uuid = require('uuid')

common.start({wal_mode = 'none'})

local clients = {}
local state = {ok = 0, failed = 0, lateness_ms = {}, get_ms = {}}

local function client_for(pool)
    if clients[pool] == nil then
        clients[pool] = http.new({max_connections = pool, max_total_connections = pool})
    end
    return clients[pool]
end

local function start_senders(url, pool, queue)
    local client = client_for(pool)
    for _ = 1, pool do
        fiber.create(function()
            while true do
                local job = queue:get()
                if job == nil then return end
                local started_ms = common.now_ms()
                local headers = common.headers(job[1], job[2], math.floor(started_ms), uuid.str(), true)
                local ok, response = pcall(client.get, client, url .. '?user_id=' .. string.format('%d', job[1]),
                    {timeout = 5, headers = headers})
                state.get_ms[#state.get_ms + 1] = common.now_ms() - started_ms
                if ok and response.status == 200 then
                    state.ok = state.ok + 1
                else
                    state.failed = state.failed + 1
                end
            end
        end)
    end
end

local function reset()
    state = {ok = 0, failed = 0, lateness_ms = {}, get_ms = {}}
end

-- schedule: {{user_id, at_ms}, ...} ascending by at_ms.
function bench_timed_gets(url, schedule, pool)
    reset()
    local queue = fiber.channel(pool * 2)
    start_senders(url, pool, queue)
    local run = state
    fiber.create(function()
        for _, job in ipairs(schedule) do
            -- Never early, like the engine: a timer can fire a fraction of a
            -- millisecond before its instant (it counts on the event loop's
            -- cached clock), and then sleeps again for the rest.
            while common.now_ms() < job[2] do fiber.sleep((job[2] - common.now_ms()) / 1000) end
            run.lateness_ms[#run.lateness_ms + 1] = common.now_ms() - job[2]
            queue:put(job)
        end
        while not queue:is_empty() do fiber.sleep(0.01) end
        queue:close()
    end)
    return #schedule
end

-- count GETs for users first..first+count-1, all due at at_ms.
function bench_burst_gets(url, first, count, pool, at_ms)
    reset()
    local queue = fiber.channel(pool * 2)
    start_senders(url, pool, queue)
    fiber.create(function()
        while common.now_ms() < at_ms do fiber.sleep((at_ms - common.now_ms()) / 1000) end
        for i = 0, count - 1 do queue:put({first + i, at_ms}) end
        while not queue:is_empty() do fiber.sleep(0.01) end
        queue:close()
    end)
    return count
end

function bench_state()
    local stat = {}
    for pool, client in pairs(clients) do stat[tostring(pool)] = client:stat() end
    return {ok = state.ok, failed = state.failed, lateness_ms = state.lateness_ms, get_ms = state.get_ms, http = stat}
end
