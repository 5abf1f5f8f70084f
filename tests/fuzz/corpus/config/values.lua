pbx = { state_dir = '/tmp/x', log_level = 'debug' }
local port = 5070
sip = { listen = { 'udp:127.0.0.1:' .. port, 'tcp:[::1]:5071' },
        domain = 'example.org', max_contacts = 3,
        tls = { cert = "tls/pbx.pem", key = "tls/pbx.key" },
        auth_algorithms = { "SHA-256", "MD5" },
        ban_ignore = { "192.168.1.0/24", "10.0.0.7" } }
rtp = { port_min = 30000, port_max = 30100, srtp = 'mandatory', codecs = { "pcma", "pcmu" } }
features = { blind_transfer = "#1", attended_transfer = "*2", digit_timeout = 2000 }
