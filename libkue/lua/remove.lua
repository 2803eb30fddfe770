-- remove: delete a job with its log, every index entry, its lease and its
-- search entries (docs/wire.md sections 6, 8), and publish "remove".
-- ARGV: prefix, id[, idform ('s': the event's id is a string)].
-- Returns the job's type, or an error.
local id = ARGV[2]
EV_ID_STR = ARGV[3] == 's'
local j = load(id)
if not j then
  if redis.call('EXISTS', key('job:' .. id)) == 1 then
    drop(id, nil, nil)   -- a hash without a type: Kue's removeBadJob
  end
  return err_reply('NOTFOUND', 'job "' .. id .. '" doesnt exist')
end
sched_forget(id, j)
drop(id, j.type, j.workerId)
publish(id, 'remove', ',' .. jstr(j.type))
return j.type
