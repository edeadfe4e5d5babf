-- nginx's access check of /invocations (access_by_lua_file): refuse with a 400 a JSON body
-- nested deeper than $json_max_depth, before a model server parses it. Python's json parser
-- raises RecursionError near 1,000 levels, which MLflow's scoring server answers with a 500.
-- Brackets inside strings do not count.
local limit = tonumber(ngx.var.json_max_depth)
ngx.req.read_body()
local body = ngx.req.get_body_data()
if not body then
    local path = ngx.req.get_body_file()  -- a body larger than client_body_buffer_size
    if not path then return end  -- no body
    local file = io.open(path, "rb")
    if not file then return end
    body = file:read("*a")
    file:close()
end

local find, byte, huge = string.find, string.byte, math.huge
-- The next position of each special character, found by plain (memchr-fast) searches: a
-- pattern search for '[%[%]{}"]' costs about 50 ns a character, 0.5 s for a 10 MB batch.
local chars = {"[", "{", "]", "}", '"'}
local nexts = {0, 0, 0, 0, 0}
local depth, i = 0, 1
while true do
    local kind, at = 0, huge
    for n = 1, 5 do
        if nexts[n] < i then nexts[n] = find(body, chars[n], i, true) or huge end
        if nexts[n] < at then kind, at = n, nexts[n] end
    end
    if at == huge then return end
    if kind == 5 then  -- a string: skip to its closing quote, one not escaped
        local j = at
        repeat
            j = find(body, '"', j + 1, true)
            if not j then return end
            local b = j - 1
            while byte(body, b) == 92 do b = b - 1 end  -- backslashes before the quote
        until (j - 1 - b) % 2 == 0
        i = j + 1
    elseif kind <= 2 then
        depth = depth + 1
        if depth > limit then
            ngx.status = ngx.HTTP_BAD_REQUEST
            ngx.header["Content-Type"] = "application/json"
            ngx.say('{"error_code": "BAD_REQUEST", "message": "the JSON body is nested more ',
                    'than ', limit, ' levels deep"}')
            return ngx.exit(ngx.HTTP_BAD_REQUEST)
        end
        i = at + 1
    else
        depth = depth - 1
        i = at + 1
    end
end
