//! [`choose()`]: from a project's declarations to an image tag, by the policy table.
//!
//! The candidates are release series (`1.26`, `22`): an image tag delivers the newest
//! release of its series, so a series satisfies a declaration when that newest release
//! does. Declarations are first checked pairwise, so that a contradiction names its two
//! files; the tag is then the lowest supported series that satisfies all of them, else the
//! lowest newer one (not yet known to the policy), else the newest older one (out of
//! support).

use super::policy::Policy;
use super::release::Release;
use super::{Choice, DeclKind, Declared, Ecosystem, Flag, ToolchainError};

/// Chooses the `ecosystem` image tag that satisfies every declaration in `declared`, by the
/// policy of `mcp-tools/tests/repos/README.md`:
///
/// - nothing declared: the policy's default, flagged [`Flag::Fallback`] (.NET has no
///   default: [`ToolchainError::NothingDeclared`]);
/// - an exact pin (`rust-toolchain`, a TargetFramework): that release, flagged
///   [`Flag::Unsupported`] when out of support or [`Flag::NewerThanKnown`] when newer than
///   the table;
/// - otherwise the lowest supported release that satisfies every declaration, a minimum
///   meaning "at or above" (so an out-of-support minimum is bumped up, never down); when
///   only newer releases satisfy them, the lowest of those ([`Flag::NewerThanKnown`]); when
///   only older ones do, the newest of those ([`Flag::Unsupported`]).
///
/// Two declarations that cannot hold together (`requires-python >=3.13` beside a
/// `.python-version` of `3.11`, a pin below a `rust-version`) give
/// [`ToolchainError::Contradiction`] naming both files; a declaration of another ecosystem
/// gives [`ToolchainError::WrongEcosystem`].
pub fn choose(ecosystem: Ecosystem, declared: &[Declared]) -> Result<Choice, ToolchainError> {
    let policy = Policy::of(ecosystem);
    if let Some(other) = declared
        .iter()
        .find(|d| d.source().ecosystem() != ecosystem)
    {
        return Err(ToolchainError::WrongEcosystem {
            evidence: other.evidence().clone(),
            expected: ecosystem.display_name(),
            found: other.source().ecosystem().display_name(),
        });
    }
    if declared.is_empty() {
        return fallback(policy);
    }
    let universe = policy.universe(declared.iter().flat_map(Declared::mentioned));
    check_pairs(policy, declared, &universe)?;
    if let Some(pin) = declared.iter().find(|d| d.kind() == DeclKind::Exact) {
        return Ok(pinned(policy, pin, declared));
    }

    let satisfies_all = |s: &Release| declared.iter().all(|d| d.allows_series(*s, policy.width));
    let newest = policy.newest_supported();
    let lowest = policy.supported().next();
    if let Some(series) = policy.supported().find(satisfies_all) {
        return Ok(supported(policy, series, declared, &universe));
    }
    if let Some(&series) = universe
        .iter()
        .filter(|&&s| Some(s) > newest)
        .find(|s| satisfies_all(s))
    {
        let binding = binding(policy, declared, &universe);
        let reason = format!(
            "{} says {}, newer than every supported release ({}), so {}:{}, as declared",
            binding.evidence(),
            binding.described(),
            policy.supported_list(),
            policy.image,
            series,
        );
        return Ok(choice(
            policy,
            series.to_string(),
            binding,
            &[Flag::NewerThanKnown],
            reason,
        ));
    }
    if let Some(&series) = universe
        .iter()
        .rev()
        .filter(|&&s| lowest.is_some_and(|low| s < low))
        .find(|s| satisfies_all(s))
    {
        // The declaration that shuts out the supported releases.
        let binding = declared
            .iter()
            .find(|d| !policy.supported().any(|s| d.allows_series(s, policy.width)))
            .unwrap_or(&declared[0]);
        let reason = format!(
            "{} says {}, which only out-of-support releases satisfy, so {}:{}, the newest of them",
            binding.evidence(),
            binding.described(),
            policy.image,
            series,
        );
        return Ok(choice(
            policy,
            series.to_string(),
            binding,
            &[Flag::Unsupported],
            reason,
        ));
    }
    let all: Vec<String> = declared
        .iter()
        .map(|d| format!("{} ({})", d.described(), d.evidence()))
        .collect();
    Err(ToolchainError::Unsatisfiable {
        ecosystem: policy.ecosystem.display_name(),
        declared: all.join(", "),
    })
}

fn fallback(policy: &Policy) -> Result<Choice, ToolchainError> {
    let name = policy.ecosystem.display_name();
    let default = policy
        .default()
        .ok_or(ToolchainError::NothingDeclared { ecosystem: name })?;
    let tag = policy.tag(default);
    Ok(Choice {
        ecosystem: policy.ecosystem,
        reason: format!(
            "nothing in the project declares a {name} version, so {}:{tag}, the current default",
            policy.image
        ),
        tag,
        evidence: None,
        flags: vec![Flag::Fallback],
        build_sdk: None,
    })
}

/// A choice decided by `binding`.
fn choice(
    policy: &Policy,
    tag: String,
    binding: &Declared,
    flags: &[Flag],
    reason: String,
) -> Choice {
    Choice {
        ecosystem: policy.ecosystem,
        tag,
        evidence: Some(binding.evidence().clone()),
        flags: flags.to_vec(),
        build_sdk: None,
        reason,
    }
}

/// Fails on the first two declarations that cannot hold together.
fn check_pairs(
    policy: &Policy,
    declared: &[Declared],
    universe: &[Release],
) -> Result<(), ToolchainError> {
    for (i, first) in declared.iter().enumerate() {
        for second in &declared[i + 1..] {
            if !compatible(policy, first, second, universe) {
                return Err(ToolchainError::Contradiction {
                    first: first.evidence().clone(),
                    first_raw: first.described().to_owned(),
                    second: second.evidence().clone(),
                    second_raw: second.described().to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Whether `a` and `b` can hold together. Minimums combine (the higher wins). A minimum or
/// a pin claims that its own release works, so every other declaration must admit it. Two
/// ranges must share a series. .NET's one minimum, global.json's SDK, builds older
/// TargetFrameworks too, so it never contradicts a pin (see [`Choice::build_sdk`]).
fn compatible(policy: &Policy, a: &Declared, b: &Declared, universe: &[Release]) -> bool {
    use DeclKind::{Exact, Minimum, Range};
    let width = policy.width;
    let admits_named = |claim: &Declared, other: &Declared| {
        claim
            .named()
            .is_none_or(|release| other.admits(release.newest()))
    };
    let pin_holds = |pin: &Declared, other: &Declared| {
        let sdk_beside_tfm = policy.ecosystem == Ecosystem::Dotnet && other.kind() == Minimum;
        sdk_beside_tfm || admits_named(pin, other)
    };
    match (a.kind(), b.kind()) {
        (Minimum, Minimum) => true,
        (Exact, Exact) => match (a.named(), b.named()) {
            (Some(x), Some(y)) => x.series(width) == y.series(width),
            _ => true,
        },
        (Exact, _) => pin_holds(a, b),
        (_, Exact) => pin_holds(b, a),
        (Minimum, Range) => admits_named(a, b),
        (Range, Minimum) => admits_named(b, a),
        (Range, Range) => universe
            .iter()
            .any(|&s| a.allows_series(s, width) && b.allows_series(s, width)),
    }
}

/// The lowest series in `universe` that `d` allows.
fn floor(policy: &Policy, d: &Declared, universe: &[Release]) -> Option<Release> {
    universe
        .iter()
        .copied()
        .find(|&s| d.allows_series(s, policy.width))
}

/// The declaration that decides the tag: the one whose lowest allowed series is highest
/// (the first of those on a tie).
fn binding<'a>(policy: &Policy, declared: &'a [Declared], universe: &[Release]) -> &'a Declared {
    let mut best = &declared[0];
    let mut best_floor = floor(policy, best, universe);
    for d in &declared[1..] {
        let f = floor(policy, d, universe);
        if f > best_floor {
            best = d;
            best_floor = f;
        }
    }
    best
}

fn supported(
    policy: &Policy,
    series: Release,
    declared: &[Declared],
    universe: &[Release],
) -> Choice {
    let binding = binding(policy, declared, universe);
    let tag = policy.tag(series);
    let image = policy.image;
    let says = format!("{} says {}", binding.evidence(), binding.described());
    let reason = match floor(policy, binding, universe) {
        // `rust:1`: the moving tag of the newest release, which meets any older minimum.
        Some(f) if f < series && policy.latest_tag == Some(tag.as_str()) => {
            format!("{says}, which the latest release ({series}) meets, so {image}:{tag}")
        }
        Some(f) if f == series && binding.kind() == DeclKind::Range => {
            format!("{says}, so {image}:{tag}, the lowest supported release that satisfies it")
        }
        Some(f) if f == series => format!("{says}, so {image}:{tag}"),
        Some(f) if !policy.is_supported(f) => format!(
            "{says}; {f} is out of support, so {image}:{tag}, the lowest supported release above it"
        ),
        _ => format!(
            "{says}; {image}:{tag} is the lowest supported release that satisfies every declaration"
        ),
    };
    Choice {
        ecosystem: policy.ecosystem,
        tag,
        evidence: Some(binding.evidence().clone()),
        flags: Vec::new(),
        build_sdk: None,
        reason,
    }
}

/// An exact pin: that release, whatever the supported list says.
fn pinned(policy: &Policy, pin: &Declared, declared: &[Declared]) -> Choice {
    let image = policy.image;
    let says = format!("{} pins {}", pin.evidence(), pin.described());
    let Some(release) = pin.named() else {
        // A Rust channel: `stable` is what `rust:1` carries; any other channel is installed
        // by rustup inside the image from the rust-toolchain file.
        let latest = policy
            .newest_supported()
            .map_or_else(|| "1".to_owned(), |s| policy.tag(s));
        let channel = pin.channel().unwrap_or_default();
        if channel.starts_with("stable") {
            let reason = format!("{says}, so {image}:{latest}, the latest stable");
            return choice(policy, latest, pin, &[], reason);
        }
        let reason = format!(
            "{says}, which no {image} image carries, so {image}:{latest}, whose rustup installs {channel} from the rust-toolchain file when cargo first runs"
        );
        return choice(policy, latest, pin, &[Flag::Unsupported], reason);
    };
    let series = release.series(policy.width);
    let tag = series.to_string();
    let (flags, status) = if policy.is_supported(series) {
        (Vec::new(), String::new())
    } else if Some(series) > policy.newest_supported() {
        let status = format!(
            "; {tag} is newer than every supported release ({})",
            policy.supported_list()
        );
        (vec![Flag::NewerThanKnown], status)
    } else {
        let status = format!(
            "; {tag} is out of support (supported: {})",
            policy.supported_list()
        );
        (vec![Flag::Unsupported], status)
    };
    // global.json may ask for a newer SDK than the TargetFramework: it builds the app, the
    // TargetFramework's runtime runs it.
    let build_sdk = declared
        .iter()
        .filter(|d| d.kind() == DeclKind::Minimum)
        .filter_map(Declared::named)
        .map(|r| r.series(policy.width))
        .max()
        .filter(|&sdk| policy.ecosystem == Ecosystem::Dotnet && sdk > series);
    let reason = match (policy.ecosystem, build_sdk) {
        (Ecosystem::Dotnet, Some(sdk)) => format!(
            "{} targets {}, so the {tag} runtime (a .NET app does not roll forward to a newer major), built with sdk:{sdk} as global.json asks{status}",
            pin.evidence(),
            pin.described()
        ),
        (Ecosystem::Dotnet, None) => format!(
            "{} targets {}, so the {tag} images (a .NET app does not roll forward to a newer major){status}",
            pin.evidence(),
            pin.described()
        ),
        _ => format!("{says}, so {image}:{tag} exactly{status}"),
    };
    Choice {
        ecosystem: policy.ecosystem,
        tag,
        evidence: Some(pin.evidence().clone()),
        flags,
        build_sdk: build_sdk.map(|s| s.to_string()),
        reason,
    }
}

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod tests;
