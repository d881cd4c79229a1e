-- Storage node bootstrap: the only hand-written Lua. Everything else is
-- TypeScript compiled to build/lua by `npm run build:lua`.
local root = debug.getinfo(1, 'S').source:sub(2):match('^(.*)/src/storage/[^/]*$') or '.'
package.path = root .. '/build/lua/?.lua;' .. package.path
local path = os.getenv('BILLING_NODE_CONFIG') or error('BILLING_NODE_CONFIG must name the node config file')
local file = assert(io.open(path, 'r'))
local text = file:read('*a')
file:close()
require('storage.node').start(text, os.getenv('BILLING_POWEROFF_URL'))
