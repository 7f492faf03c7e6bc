//! `cargo xtask`: not implemented yet, see the xtask issue.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("xtask: no subcommands implemented yet")
}
