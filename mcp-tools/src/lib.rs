//! The containerization workflow tools. Not implemented yet: see the mcp-tools issue.
