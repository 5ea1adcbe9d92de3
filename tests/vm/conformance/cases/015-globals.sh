# The sandbox: exact global names and library contents, _VERSION.
prog <<'EOF'
local function keys(t)
  local r = {}
  for k in pairs(t) do r[#r + 1] = tostring(k) end
  table.sort(r)
  return table.concat(r, " ")
end
return { G = keys(_G), string = keys(string), table = keys(table), coroutine = keys(coroutine),
  version = _VERSION }
EOF
