//! Reading a password: a prompt (twice) on a terminal, else the first line of stdin.
//! Never an argument: arguments end up in shell history and `ps`.

use std::io::{BufRead, IsTerminal};

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::NewPassword;

pub fn read_new_password(user: &str) -> anyhow::Result<SecretString> {
    let password = if std::io::stdin().is_terminal() {
        let first = SecretString::from(rpassword::prompt_password(format!(
            "New password for {user}: "
        ))?);
        let again = SecretString::from(rpassword::prompt_password("Repeat it: ")?);
        if first.expose_secret() != again.expose_secret() {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        SecretString::from(line.trim_end_matches(['\n', '\r']).to_string())
    };
    match NewPassword::parse(password) {
        Ok(p) => Ok(p.into_secret()),
        Err(why) => bail!("{why} (given on stdin or at the prompt)"),
    }
}
