-- wrk script for bench/run.py: POST a bot with a name unique to this run, thread and request.
-- Usage: wrk ... -s bench/post_bots.lua URL -- <run prefix>
-- setup() gives each thread its own id; init() reads the run prefix from the arguments.

local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  prefix = args[1] or "bench"
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local code = [[def main(event, context):\n    return {'ok': True}\n]]

function request()
  counter = counter + 1
  local body = '{"name":"' .. prefix .. "-" .. id .. "-" .. counter .. '","code":"' .. code .. '"}'
  return wrk.format(nil, nil, nil, body)
end
