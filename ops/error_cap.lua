-- nginx's body filter of /invocations (body_filter_by_lua_file): an error answer longer than
-- $error_max_bytes is replaced by a short JSON error. MLflow's scoring server quotes a body it
-- cannot parse as JSON whole in its answer (up to the body cap); an answer must never echo a
-- large input. The header filter has dropped the Content-Length of error answers.
if ngx.status < 400 then return end
local limit = tonumber(ngx.var.error_max_bytes)
local ctx = ngx.ctx
local chunk, eof = ngx.arg[1] or "", ngx.arg[2]
ctx.size = (ctx.size or 0) + #chunk
if ctx.size <= limit then
    ctx.kept = (ctx.kept or "") .. chunk
else
    ctx.kept = nil
end
ngx.arg[1] = nil  -- held until the end: only then is the size known
if eof then
    ngx.arg[1] = ctx.kept or ('{"error_code": "BAD_REQUEST", "message": "the request was '
        .. 'refused; the answer (' .. ctx.size .. ' bytes) quoted the request and was cut"}')
end
