//! Generated sample data: text shaped like a service's log (timestamps, levels, paths, ids,
//! numbers), deterministic, compressing about as real logs do.

/// A small xorshift generator: the same sample on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len())]
    }
}

const LEVELS: [&str; 5] = ["INFO", "INFO", "INFO", "WARN", "DEBUG"];
const SERVICES: [&str; 6] = ["gateway", "auth", "billing", "search", "storage", "scheduler"];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
const PATHS: [&str; 8] = [
    "/api/v1/users",
    "/api/v1/orders",
    "/api/v2/search",
    "/static/app.js",
    "/health",
    "/api/v1/invoices",
    "/login",
    "/api/v2/items",
];
const MESSAGES: [&str; 6] = [
    "request completed",
    "cache miss, fetching from origin",
    "slow response from upstream",
    "retrying after timeout",
    "session refreshed",
    "rate limit close to threshold",
];

/// `len` bytes of log text.
pub fn log_text(len: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 256);
    let mut t = 1_700_000_000_000u64;
    while out.len() < len {
        t += rng.next() % 50;
        let line = format!(
            "{}.{:03} {:<5} {}[{}] {} {}/{} status={} bytes={} in {} ms: {}\n",
            t / 1000,
            t % 1000,
            rng.pick(&LEVELS),
            rng.pick(&SERVICES),
            1000 + rng.below(64),
            rng.pick(&METHODS),
            rng.pick(&PATHS),
            rng.below(100_000),
            [200, 200, 200, 204, 304, 404, 500][rng.below(7)],
            rng.below(65_536),
            rng.below(900),
            rng.pick(&MESSAGES),
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(len);
    out
}
