//! Operators as on real terminals: a supervisor (主管) and numbered cashiers, passwords kept
//! as keyed hashes under the storage key, the supervisor's password for what needs it.

use super::*;

/// An operator's number (two digits) and password (4–12 digits), as the keypad takes them.
pub(super) fn check_operator(number: &str, password: &[u8]) -> Result<()> {
    if number.len() != OPERATOR_DIGITS || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TerminalError::Input("operator number: two digits".into()));
    }
    if !(PASSWORD_LEN_MIN..=PASSWORD_LEN_MAX).contains(&password.len()) || !password.iter().all(u8::is_ascii_digit) {
        return Err(TerminalError::Input(format!("password: {PASSWORD_LEN_MIN} to {PASSWORD_LEN_MAX} digits")));
    }
    Ok(())
}

/// The configuration's first operators: a supervisor among them, each number, role and
/// password as the terminal will accept them.
pub(crate) fn check_operator_seeds(seeds: &[crate::config::OperatorSeed]) -> Result<()> {
    if !seeds.iter().any(|s| s.role == "supervisor") {
        return Err(TerminalError::Config("no operators on file and no supervisor in the configuration".into()));
    }
    for seed in seeds {
        Role::parse(&seed.role)?;
        match (&seed.password, &seed.password_hash) {
            (Some(password), None) => check_operator(&seed.number, password.as_bytes())?,
            (None, Some(hash))
                if hash.len() == crate::seeds::PASSWORD_HASH_HEX_DIGITS && iso8583::hex::decode(hash).is_ok() =>
            {
                check_operator(&seed.number, b"0000")?;
            }
            (None, Some(_)) => {
                return Err(TerminalError::Config(format!(
                    "operator {}: password_hash is {} hex digits (written by `cardnet pos init`)",
                    seed.number,
                    crate::seeds::PASSWORD_HASH_HEX_DIGITS
                )));
            }
            _ => {
                return Err(TerminalError::Config(format!(
                    "operator {}: give password_hash (or, once, a clear password to be hashed)",
                    seed.number
                )));
            }
        }
    }
    Ok(())
}

impl Terminal {
    /// Clear passwords in the configuration hashed (and its file rewritten without them),
    /// then an empty journal seeded with the configuration's hashes.
    pub(super) fn seed_operators(&mut self) -> Result<String> {
        let mut note = String::new();
        if crate::seeds::hash_clear_seeds(&self.storage_key, &mut self.config.operators)?
            && let Some(path) = &self.config.source
        {
            crate::seeds::write_seeds(path, &self.config.operators)?;
            note = format!("; clear passwords in {} replaced by hashes", path.display());
        }
        let count = self.store.transact(|tx| tx.operator_count())?;
        if count == 0 {
            let seeds = self.config.operators.clone();
            check_operator_seeds(&seeds)?;
            // Seed hashes carry no salt; the journal's operators take them as they are.
            if !self.state.salt.is_empty() {
                self.state.salt.clear();
                self.save_state()?;
            }
            for seed in &seeds {
                let role = Role::parse(&seed.role)?;
                let hash = crate::seeds::seed_hash_bytes(seed)?;
                self.store.transact(|tx| tx.put_operator(&seed.number, role, hash.clone()))?;
            }
            return Ok(format!("{} operators set up from the configuration{note}", seeds.len()));
        }
        Ok(format!("{count} operators on file{note}"))
    }

    // ---- operators -------------------------------------------------------------------

    pub(super) fn password_hash(&self, number: &str, password: &Secret) -> Result<Vec<u8>> {
        crate::seeds::operator_hash(&self.storage_key, &self.state.salt, number, password)
    }

    pub(super) fn put_operator(&self, number: &str, role: Role, password: &Secret) -> Result<()> {
        check_operator(number, password.expose())?;
        let hash = self.password_hash(number, password)?;
        self.store.transact(|tx| tx.put_operator(number, role, hash.clone()))
    }

    pub(super) fn verify_operator(&self, number: &str, password: &Secret) -> Result<Role> {
        let wrong = || TerminalError::Input("operator number or password is wrong".into());
        let (role, stored) = self.store.transact(|tx| tx.operator(number))?.ok_or_else(wrong)?;
        let hash = self.password_hash(number, password)?;
        hsm::mac::verify(&hash, &stored).map_err(|_| wrong())?;
        Role::parse(&role)
    }

    /// Log an operator in; their number goes into field 63 of what follows.
    pub fn log_in(&mut self, number: &str, password: &Secret) -> Result<Role> {
        let role = self.verify_operator(number, password)?;
        self.operator = Some((number.to_owned(), role));
        Ok(role)
    }

    pub fn operator(&self) -> Option<&str> {
        self.operator.as_ref().map(|(n, _)| n.as_str())
    }

    /// Check the supervisor's password (void, refund, settlement).
    pub fn authorise_supervisor(&self, password: Option<&Secret>) -> Result<()> {
        let password = password.ok_or_else(|| TerminalError::Input("the supervisor's password is needed".into()))?;
        let supervisor = self.store.transact(|tx| tx.supervisor())?;
        let number = supervisor.ok_or_else(|| TerminalError::State("no supervisor on file".into()))?;
        match self.verify_operator(&number, password) {
            Ok(Role::Supervisor) => Ok(()),
            _ => Err(TerminalError::Input("the supervisor's password is wrong".into())),
        }
    }

    /// The operators on file: number and role.
    pub fn operators(&self) -> Result<Vec<(String, Role)>> {
        let rows = self.store.transact(|tx| tx.operators())?;
        rows.into_iter().map(|(number, role)| Ok((number, Role::parse(&role)?))).collect()
    }

    /// Add or change an operator: needs the supervisor's password.
    pub fn set_operator(
        &self,
        supervisor_password: &Secret,
        number: &str,
        role: Role,
        password: &Secret,
    ) -> Result<()> {
        self.authorise_supervisor(Some(supervisor_password))?;
        self.put_operator(number, role, password)?;
        self.replace_seed(number, role, password)
    }

    /// The configuration file's seed for `number` replaced by the new password's hash (added
    /// if missing), so the file keeps no old password.
    fn replace_seed(&self, number: &str, role: Role, password: &Secret) -> Result<()> {
        let Some(path) = &self.config.source else {
            return Ok(());
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| TerminalError::Config(format!("{}: {e}", path.display())))?;
        let current: crate::config::TerminalConfig =
            host::config_file::parse_toml_file(path, &text).map_err(TerminalError::Config)?;
        let mut seeds = current.operators;
        crate::seeds::hash_clear_seeds(&self.storage_key, &mut seeds)?;
        let seed = crate::seeds::hashed_seed(&self.storage_key, number, role.name(), password)?;
        match seeds.iter_mut().find(|s| s.number == number) {
            Some(existing) => *existing = seed,
            None => seeds.push(seed),
        }
        crate::seeds::write_seeds(path, &seeds)
    }
}
