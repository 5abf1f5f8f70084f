conference = { max_members = 20, rate = 16000, talkers = 3 }
features = { blind_transfer = "##", abort_transfer = "*3" }
pbx = { media_workers = 2, log_file = "../var/pbx.log", sounds_dir = "./sounds/../sounds" }
