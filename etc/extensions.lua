-- The dialplan: what happens to every call. Asterisk pbx_lua syntax, so an
-- Asterisk extensions.lua runs here unchanged.
--
-- `extensions` holds the contexts; each context maps extensions to Lua
-- functions, called as function(context, extension). A phone's calls
-- enter the context `default`. `dialplan reload` at the console loads
-- this file again (calls in progress keep the version they started on);
-- `dialplan show` lists what is loaded, in match order.
--
-- Extension names:
--   "1001"       exactly that number ('-' is ignored: "555-1212")
--   "_1XXX"      a pattern, marked by '_':
--                  X any digit, Z 1-9, N 2-9, [1-5] or [13] one of a set,
--                  .  one or more of anything, !  zero or more of anything
--                Literal names match first, then patterns, the more
--                specific first (as Asterisk sorts them): "_10XX" wins over
--                "_1XXX", which wins over "_X.".
--   s            a call that came without an extension
--   i            an extension that does not exist (INVALID_EXTEN says which)
--   h            runs after the call ends, however it ended
--   t            reserved (as in Asterisk); none of s/i/t/h can be dialled
--   include = { "other" }  also look in context `other`, after this one
--
-- Inside a function:
--   app.NAME(arg, ...)     run an application; the call waits, the PBX does
--                          not. Names are case-insensitive (app.Dial works);
--                          `goto` is a Lua keyword, so write app["goto"](...).
--                          Arguments are positional as in Asterisk; nil is an
--                          empty one, and app.dial("SIP/1001", 20) is the same
--                          as app.dial("SIP/1001,20"). Applications return
--                          their status and set the Asterisk variables too.
--   channel.NAME:get()     a channel variable (nil when unset);
--   channel.NAME:set(v)    channel.NAME = v  sets it
--   channel.CALLERID("num"):get(), channel["CALLERID(name)"]:get()
--   EXTEN, CONTEXT, DIALSTATUS, HANGUPCAUSE  also readable as plain globals
--   check_hangup()         true once the caller has hung up
--   print(...)             writes to the PBX log
--
-- When the caller hangs up, or an application fails, the application call
-- raises a Lua error: the function ends and `h` runs. A mistake in the
-- script (an unknown application, a table where a string belongs) is
-- logged with this file's name and line and ends that call only.
--
-- Globals a call assigns are its own: `h` sees them, other calls do not.
-- Tables built here at load time, and local variables of this file, are
-- shared by all calls.

-- Ring a phone for 20 seconds; unanswered, the caller leaves a message.
-- Options "tT": either party may transfer from the keypad, ## blind or
-- *2 attended (the `features` section of pbx.lua sets the codes). A
-- phone's own transfer key (REFER) works without them.
local function ring(exten)
  local status = app.dial("SIP/" .. exten, 20, "tT")
  -- status (also DIALSTATUS): ANSWER, BUSY, NOANSWER, CHANUNAVAIL, CONGESTION, CANCEL
  if status == "BUSY" then
    app.voicemail(exten, "b")   -- the busy greeting
  elseif status ~= "ANSWER" and status ~= "CANCEL" then
    app.voicemail(exten, "u")   -- the unavailable greeting
  end
  app.hangup()
end

extensions = {
  default = {
    -- Extension to extension: 1000-1999 are phones.
    ["_1XXX"] = function(context, exten)
      ring(exten)
    end,

    -- Echo test: what you say comes back; '#' ends it.
    ["600"] = function()
      app.answer()
      app.playback("demo-echotest")
      app.echo()
      app.hangup()
    end,

    -- Playback test: sounds/demo-congrats.wav
    ["601"] = function()
      app.answer()
      app.playback("demo-congrats")
      app.hangup()
    end,

    -- Say back the number you called from.
    ["602"] = function()
      app.answer()
      app.wait(0.5)
      app.saydigits(channel.CALLERID("num"):get() or "")
      app.hangup()
    end,

    -- Record yourself after the beep ('#' ends, 30 s at most), then hear it.
    ["603"] = function()
      app.answer()
      app.record("demo-%d.wav", 5, 30)
      app.playback(channel.RECORDED_FILE:get() .. ".wav")
      app.hangup()
    end,

    -- Hold music until you hang up.
    ["604"] = function() app.musiconhold() end,

    -- Your mailbox: messages, greetings and PIN (the PIN is `user set EXT pin`).
    -- Press * at the PIN prompt to open another mailbox instead.
    ["*97"] = function() app.voicemailmain() end,
    -- Answer a call ringing at another extension: dial ** and its number.
    ["_**X."] = function(context, exten) app.pickup(exten:sub(3)) end,
    -- Conference rooms 8000-8999: dial the same number to meet. A room of
    -- the directory (`confbridge room add 8100 --pin 1234`) asks for its PIN.
    ["_8XXX"] = function(context, exten) app.confbridge(exten) end,

    -- A number that does not exist.
    i = function()
      app.verbose("no extension " .. (channel.INVALID_EXTEN:get() or "?"))
      app.hangup("UNALLOCATED")
    end,

    -- After every call of this context.
    h = function() end,

    include = { "demo" },
  },

  -- Commented examples of every application. Not reachable from `default`
  -- until you uncomment them (they are in `demo`, which default includes).
  demo = {
    --[=[
    ["700"] = function(context, exten)
      -- answer([delay_ms]): answer, then wait that long for the audio path
      app.answer(500)

      -- playback(files[, options]): files joined with '&', names under sounds/;
      -- PLAYBACKSTATUS is SUCCESS or FAILED. Options: skip, noanswer.
      app.playback("demo-congrats&beep")

      -- background(files[, options]): play until a key is pressed; returns the key
      local key = app.background("demo-congrats")
      if key == "1" then app.playback("beep") end

      -- read(variable[, prompts[, maxdigits[, options[, attempts[, timeout]]]]]):
      -- collect digits ('#' ends); returns them and sets the variable; READSTATUS
      local pin = app.read("PIN", "beep", 4, nil, 2, 10)

      -- saydigits(digits): speak them one by one
      app.saydigits(pin)

      -- wait(seconds): pause (fractions allowed)
      app.wait(1.5)

      -- echo(): the caller's audio back to the caller until '#'
      app.echo()

      -- set(NAME=value): a channel variable, as channel.NAME = "value" does
      app.set("GREETING=hello")
      print(channel.GREETING:get())

      -- noop([text]): nothing; the text shows in the log at info level
      app.noop("reached " .. exten)

      -- verbose([level,]message): a line in the log
      app.verbose(1, "caller " .. channel.CALLERID("num"):get())

      -- dial(targets[, timeout[, options]]): targets joined with '&';
      -- SIP/1001 rings every phone registered as 1001; PJSIP/ works too.
      -- Returns DIALSTATUS. Option 'r': ringing at once, no early media.
      local status = app.dial("SIP/1001&SIP/1002", 30, "r")

      -- goto([[context,]extension,]1): continue there when this function
      -- returns; write `return app["goto"](...)` to leave at once.
      if status ~= "ANSWER" then return app["goto"]("default", "601", 1) end

      -- mixmonitor(file.wav[, options]): record this call in the background
      -- (under STATE_DIR/monitor/), both sides mixed; r(file)/t(file) each side
      -- apart. Ends at hangup or with stopmixmonitor().
      app.mixmonitor("call-%d.wav")

      -- record(file.wav[, silence[, maxduration[, options]]]): a beep, then the
      -- caller until '#'; RECORD_STATUS and RECORDED_FILE (under STATE_DIR/recordings/)
      app.record("note-%d.wav", 3, 60)

      -- musiconhold([class[, duration]]): hold music (sounds/moh/CLASS/)
      app.musiconhold("default", 10)

      -- voicemail(mailbox[, options]): greeting, beep, the caller's message
      -- until '#', silence or hangup; VMSTATUS SUCCESS, USEREXIT or FAILED.
      -- Options: u unavailable greeting, b busy greeting, s no greeting, U urgent.
      -- During the greeting '0' goes to extension o and '*' to a.
      app.voicemail("1003", "u")

      -- hangup([cause]): end the call (a number, or USER_BUSY, CONGESTION, ...)
      app.hangup()
    end,
    --]=]
  },

  -- Instant messages (SIP MESSAGE) enter the context `messages` (or the
  -- user's: `user set EXT message_context CTX`) at the number they were
  -- sent to, with no call. Without a matching extension the PBX delivers
  -- them itself: to every device of the user, or kept until they register.
  -- Only messagesend, set, verbose and goto run here.
  --[=[
  messages = {
    ["_1XXX"] = function(context, exten)
      -- MESSAGE(body), MESSAGE(from), MESSAGE(to), MESSAGE(content_type)
      local text = channel["MESSAGE(body)"]:get()
      if text:find("lottery") then return end        -- nothing sent: 403
      -- messagesend(to[, from]): SUCCESS, QUEUED, FAILURE or INVALID_URI,
      -- also in MESSAGE_SEND_STATUS; the sender hears 200, 202, 480 or 404.
      app.messagesend("SIP/" .. exten)
    end,
  },
  --]=]
}

-- Busy lamp fields: the device whose state an extension shows.
hints = {
  default = {
    -- ["1001"] = "SIP/1001",
  },
}
