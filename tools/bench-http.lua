-- wrk script of tools/bench-http.sh: every request a HIS envelope of its
-- own (msgid and setl_id unique to the run, thread and request), for a
-- person drawn from the enrolled ones, so that each settlement is a new
-- claim the ledger must record.
--   wrk ... -s bench-http.lua URL -- INFNO RUN_TAG PERSONS [MSGID]
-- MSGID: the same msgid in every request (a fixture of the upstream's,
-- e.g. a large response), instead of a new one each time.
-- done() prints one line that bench-http.sh reads.

local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("tid", counter)
    table.insert(threads, thread)
end

function init(args)
    infno = args[1]
    tag = args[2]
    persons = tonumber(args[3])
    fixed_msgid = args[4]
    seq = 0
    math.randomseed(tid * 7919 + os.time())
    headers = { ["Content-Type"] = "text/xml; charset=UTF-8" }
end

function request()
    seq = seq + 1
    local id = string.format("%s%02d%08d", tag, tid, seq)
    local psn = string.format("3609990000%010d", math.random(0, persons - 1))
    local msgid = fixed_msgid or ("B" .. id)
    local body = '<?xml version="1.0" encoding="UTF-8"?>\n' ..
        "<request><infno>" .. infno .. "</infno><msgid>" .. msgid ..
        "</msgid><mdtrtarea_admvs>360900</mdtrtarea_admvs>" ..
        "<insuplc_admdvs>360902</insuplc_admdvs>" ..
        "<recer_sys_code>HIS</recer_sys_code><infver>V1.0</infver>" ..
        "<opter_type>1</opter_type><opter>0001</opter>" ..
        "<inf_time>2024-05-01 10:00:00</inf_time>" ..
        "<fixmedins_code>H36090200001</fixmedins_code>" ..
        "<sign_no>S0001</sign_no><input><data>" ..
        "<psn_no>" .. psn .. "</psn_no><mdtrt_id>M" .. id .. "</mdtrt_id>" ..
        "<setl_id>S" .. id .. "</setl_id>" ..
        "</data></input></request>"
    return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("HMBBENCH requests=%d duration_us=%d " ..
        "p50_us=%d p99_us=%d max_us=%d non2xx=%d errors=%d\n",
        summary.requests, summary.duration, latency:percentile(50),
        latency:percentile(99), latency.max, e.status,
        e.connect + e.read + e.write + e.timeout))
end
