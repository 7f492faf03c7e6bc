//! The port an application states in its sources or config.

use std::path::Path;

use super::read;

/// A port stated in the code or config: `server.port=`, `EXPOSE`, `.listen(NNNN`, `PORT || NNNN`,
/// `port=NNNN`, `":NNNN"`. Looks only at a few likely files, shallowly.
pub(super) fn port_from_sources(root: &Path) -> Option<u16> {
    let candidates = [
        "src/main/resources/application.properties",
        "index.js",
        "server.js",
        "app.js",
        "src/index.js",
        "src/server.js",
        "src/app.js",
        "src/index.ts",
        "src/main.ts",
        "app.py",
        "main.py",
        "server.py",
        "main.go",
        "cmd/server/main.go",
        "src/main.rs",
        "Program.cs",
    ];
    for f in candidates {
        let Some(text) = read(root, f) else { continue };
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with("//") || l.starts_with('#') {
                continue;
            }
            let lower = l.to_ascii_lowercase();
            for marker in [
                "server.port=",
                ".listen(",
                "port || ",
                "port=",
                "port = ",
                "\":",
                "'0.0.0.0:",
                "\"0.0.0.0:",
                "127.0.0.1:",
                "localhost:",
            ] {
                if let Some(idx) = lower.find(marker) {
                    let digits: String = lower[idx + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    if let Ok(p) = digits.parse::<u16>() {
                        if p >= 80 {
                            return Some(p);
                        }
                    }
                }
            }
        }
    }
    None
}
