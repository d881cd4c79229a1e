-- Shared start-up of the bench-only Tarantool instances (baselines and the
-- seed's scan): loopback listen, a temp work dir, guest may call functions.
-- Bench code only: nothing here runs in a billing node.
local common = {}

function common.start(options)
    box.cfg({
        listen = os.getenv('BENCH_LISTEN'),
        work_dir = os.getenv('BENCH_DIR'),
        memtx_memory = tonumber(os.getenv('BENCH_MEMTX_MB') or '256') * 1024 * 1024,
        wal_mode = options.wal_mode or 'write',
        log = 'tarantool.log',
        checkpoint_count = 1,
    })
    if not box.info.ro then
        -- Loopback only, bench only: the harness calls the bench functions as guest.
        box.schema.user.grant('guest', 'read,write,execute', 'universe', nil, {if_not_exists = true})
    end
    rawset(_G, 'bench_ready', function() return true end)
end

-- The header set the billing notifier sends, same names and sizes, so a
-- baseline GET puts the same bytes on the wire (the signature is not computed).
function common.headers(user_id, at_ms, now_ms, event_id, keepalive)
    return {
        ['Connection'] = keepalive and 'Keep-Alive' or 'close',
        ['X-Billing-Event-Id'] = event_id,
        ['X-Billing-Event'] = 'depleted',
        ['X-Billing-User-Id'] = string.format('%d', user_id),
        ['X-Billing-Account-Id'] = '1',
        ['X-Billing-Occurred-At'] = string.format('%d', at_ms),
        ['X-Billing-Timestamp'] = string.format('%d', now_ms),
        ['X-Billing-Attempt'] = '1',
        ['X-Billing-Signature'] = 'v1=' .. string.rep('0', 64),
    }
end

function common.now_ms()
    return require('clock').time() * 1000
end

return common
