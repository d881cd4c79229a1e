-- Bare Tarantool recovering a billing node's files (a copy): the time
-- Tarantool itself needs to load the snapshot and replay the WAL, with none
-- of the billing start-up. Ready once box.cfg has returned (a ping alone can
-- be answered before recovery ends). Bench only.
box.cfg({
    listen = os.getenv('BENCH_LISTEN'),
    work_dir = os.getenv('BENCH_DIR'),
    memtx_memory = tonumber(os.getenv('BENCH_MEMTX_MB') or '256') * 1024 * 1024,
    log = 'tarantool.log',
})
rawset(_G, 'bench_ready', function() return box.space.accounts:len() end)
box.schema.user.grant('guest', 'read,execute', 'universe', nil, {if_not_exists = true})
