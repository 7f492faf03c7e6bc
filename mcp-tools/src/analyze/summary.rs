//! The one line an analysis is summed up in: what was detected, and how much to check.

use super::{AnalyzeResult, ServiceKind};

impl AnalyzeResult {
    /// `python/fastapi web service, entrypoint app.main:app, port 8000; 1 fallback fact to
    /// check (see checks)`: the stack, the entrypoint, the port (or that a worker listens on
    /// nothing) and the number of facts that are fallbacks.
    pub fn describe(&self) -> String {
        let stack = if self.framework.is_empty() {
            self.language.clone()
        } else {
            format!("{}/{}", self.language, self.framework)
        };
        let mut s = format!("{stack} {} service", self.kind.as_str());
        if !self.entrypoint.is_empty() {
            s.push_str(&format!(", entrypoint {}", self.entrypoint));
        }
        match self.kind {
            ServiceKind::Web => s.push_str(&format!(", port {}", self.port)),
            ServiceKind::Worker => s.push_str(", listens on no port"),
        }
        let fallbacks = self.facts.0.iter().filter(|f| f.fallback).count();
        match fallbacks {
            0 => s.push_str("; no fallback facts"),
            1 => s.push_str("; 1 fallback fact to check (see checks)"),
            n => s.push_str(&format!("; {n} fallback facts to check (see checks)")),
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_stack_entrypoint_port_and_fallbacks() {
        let mut r = AnalyzeResult {
            language: "python".into(),
            framework: "fastapi".into(),
            entrypoint: "app.main:app".into(),
            port: 8000,
            ..AnalyzeResult::default()
        };
        r.facts.fallback("port", 8000, "uvicorn's default");
        assert_eq!(
            r.describe(),
            "python/fastapi web service, entrypoint app.main:app, port 8000; 1 fallback fact to check (see checks)"
        );
        r.kind = ServiceKind::Worker;
        r.facts.0.clear();
        assert!(r
            .describe()
            .ends_with("listens on no port; no fallback facts"));
    }
}
