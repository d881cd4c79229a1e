-- The seed's approach, rebuilt for comparison (bench only): accounts hold a
-- balance that a periodic full scan charges, paced the way expirationd paces
-- it with its defaults. At each visit the scan subtracts rate x elapsed time
-- (the most favourable reading of "subtract the rate each pass"), and when
-- the balance is gone it marks the account and hands the GET to a pool of
-- sender fibers with kept-alive connections, the same as the engine's
-- notifier: also favourable to the seed, whose scan then never waits on
-- HTTP. What remains is what the approach itself costs: the scan's pacing.
package.path = debug.getinfo(1, 'S').source:sub(2):match('^(.*)/[^/]*$') .. '/?.lua;' .. package.path
local common = require('common')
local fiber = require('fiber')
local decimal = require('decimal')
local http = require('http.client')
local uuid = require('uuid')

-- expirationd's defaults (tuples_per_iteration, full_scan_time, iteration_delay, full_scan_delay).
local TUPLES_PER_ITERATION = 1024
local FULL_SCAN_TIME_S = 3600
local ITERATION_DELAY_MAX_S = 1
local FULL_SCAN_DELAY_S = 1
local BATCH = 10000

common.start({})

box.schema.space.create('accounts', {if_not_exists = true, format = {
    {name = 'customer_id', type = 'unsigned'}, {name = 'balance', type = 'decimal'},
    {name = 'rate_per_s', type = 'decimal'}, {name = 'charged_at_ms', type = 'unsigned'},
    {name = 'status', type = 'string'},
}})
box.space.accounts:create_index('primary', {parts = {'customer_id'}, if_not_exists = true})

local ZERO = decimal.new(0)
local stats = {passes = 0, checked = 0, depleted = 0, notified = 0, failed = 0, pass_s = {}, started = false}

function seed_populate(first, count, balance, rate)
    local now = math.floor(common.now_ms())
    for start = 0, count - 1, BATCH do
        box.begin()
        for i = start, math.min(count, start + BATCH) - 1 do
            box.space.accounts:insert({first + i, decimal.new(balance), decimal.new(rate), now, 'active'})
        end
        box.commit()
    end
    return count
end

-- {{customer_id, at_ms}, ...}: rate 1/s and a balance that reaches zero at at_ms.
function seed_schedule(schedule)
    local now = math.floor(common.now_ms())
    box.begin()
    for _, entry in ipairs(schedule) do
        box.space.accounts:update(entry[1], {
            {'=', 2, decimal.new(entry[2] - now) / 1000}, {'=', 3, decimal.new(1)},
            {'=', 4, now}, {'=', 5, 'active'},
        })
    end
    box.commit()
    return #schedule
end

local outbox = nil

local function start_senders(url, pool)
    local client = http.new({max_connections = pool, max_total_connections = pool})
    outbox = fiber.channel(100000)
    for _ = 1, pool do
        fiber.create(function()
            while true do
                local job = outbox:get()
                local headers = common.headers(job[1], job[2], job[2], uuid.str(), true)
                local ok, response = pcall(client.get, client, url .. '?user_id=' .. string.format('%d', job[1]),
                    {timeout = 5, headers = headers})
                if ok and response.status == 200 then stats.notified = stats.notified + 1 else stats.failed = stats.failed + 1 end
            end
        end)
    end
end

local function notify(tuple, now_ms)
    outbox:put({tuple[1], now_ms})
end

-- One visit: charge what was consumed since the last visit; deplete at zero.
local function visit(tuple)
    stats.checked = stats.checked + 1
    if tuple[5] ~= 'active' then return end
    local now_ms = math.floor(common.now_ms())
    local balance = tuple[2] - tuple[3] * (now_ms - tuple[4]) / 1000
    if balance > ZERO then
        box.space.accounts:update(tuple[1], {{'=', 2, balance}, {'=', 4, now_ms}})
        return
    end
    box.space.accounts:update(tuple[1], {{'=', 2, ZERO}, {'=', 4, now_ms}, {'=', 5, 'depleted'}})
    stats.depleted = stats.depleted + 1
    notify(tuple, now_ms)
end

local function full_scan()
    local checked = 0
    local started = fiber.clock()
    for _, tuple in box.space.accounts.index.primary:pairs() do
        visit(tuple)
        checked = checked + 1
        if checked % TUPLES_PER_ITERATION == 0 then
            local len = box.space.accounts:len()
            fiber.sleep(math.min(TUPLES_PER_ITERATION * FULL_SCAN_TIME_S / len, ITERATION_DELAY_MAX_S))
        end
    end
    stats.passes = stats.passes + 1
    stats.pass_s[#stats.pass_s + 1] = fiber.clock() - started
end

function seed_start(url, pool)
    if stats.started then return false end
    stats.started = true
    start_senders(url, pool)
    fiber.create(function()
        while true do
            full_scan()
            fiber.sleep(FULL_SCAN_DELAY_S)
        end
    end)
    return true
end

function seed_stats()
    return stats
end
