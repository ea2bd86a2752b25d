//! `token`: minting a development token of the local stack's issuer.

use crate::cli::Cli;
use crate::failure::tenant;
use crate::failure::{Failure, failed, refused};

pub(crate) fn token(
    cli: &Cli,
    t: &str,
    role: &str,
    affiliate: Option<&str>,
    subject: Option<&str>,
) -> Result<(), Failure> {
    tenant(t)?;
    let key = local_stack::signing_key(&cli.data_dir).map_err(failed)?;
    let token = local_stack::mint_token(&key, t, role, subject.unwrap_or(role), affiliate)
        .map_err(refused)?;
    println!("{token}");
    Ok(())
}
