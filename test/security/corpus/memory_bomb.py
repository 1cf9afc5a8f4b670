# expect: error killed timeout
blocks = []
while True:
    blocks.append(bytearray(50_000_000))
