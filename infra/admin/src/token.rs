//! `token`: minting a development token of the local stack's issuer.

use crate::cli::Cli;
use crate::failure::tenant;
use crate::failure::{Failure, failed, refused};

pub(crate) fn token(cli: &Cli, args: &local_stack::TokenArgs) -> Result<(), Failure> {
    tenant(&args.tenant)?;
    let key = local_stack::signing_key(&cli.data_dir).map_err(failed)?;
    let token = args.mint(&key).map_err(refused)?;
    println!("{token}");
    Ok(())
}
