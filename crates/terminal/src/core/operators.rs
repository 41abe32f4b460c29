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
        check_operator(&seed.number, seed.password.as_bytes())?;
    }
    Ok(())
}

impl Terminal {
    pub(super) fn seed_operators(&mut self) -> Result<String> {
        let count = self.store.db().transaction(Store::operator_count)?;
        if count == 0 {
            let seeds = self.config.operators.clone();
            check_operator_seeds(&seeds)?;
            for seed in &seeds {
                let role = Role::parse(&seed.role)?;
                self.put_operator(&seed.number, role, &Secret::new(seed.password.as_bytes()))?;
            }
            return Ok(format!("{} operators set up from the configuration", seeds.len()));
        }
        Ok(format!("{count} operators on file"))
    }

    // ---- operators -------------------------------------------------------------------

    pub(super) fn password_hash(&self, number: &str, password: &Secret) -> Result<Vec<u8>> {
        let mut input = Vec::with_capacity(SALT_BYTES + OPERATOR_DIGITS + 1 + password.len());
        input.extend_from_slice(&self.state.salt);
        input.extend_from_slice(number.as_bytes());
        input.push(0);
        input.extend_from_slice(password.expose());
        // A Secret, so the password's copy is zeroized when it drops.
        let input = Secret::from_vec(input);
        Ok(hsm::data::keyed_hash(self.storage_key.expose(), input.expose())?)
    }

    pub(super) fn put_operator(&self, number: &str, role: Role, password: &Secret) -> Result<()> {
        check_operator(number, password.expose())?;
        let hash = self.password_hash(number, password)?;
        self.store.db().transact(|tx| Store::put_operator(tx, number, role, hash.clone()))
    }

    pub(super) fn verify_operator(&self, number: &str, password: &Secret) -> Result<Role> {
        let wrong = || TerminalError::Input("operator number or password is wrong".into());
        let (role, stored) = self.store.db().transaction(|tx| Store::operator(tx, number))?.ok_or_else(wrong)?;
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
        let supervisor = self.store.db().transaction(|tx| {
            tx.query_opt("SELECT number FROM terminal_operators WHERE role = 'supervisor' ORDER BY number", &[])?
                .map(|row| row.text(0))
                .transpose()
        })?;
        let number = supervisor.ok_or_else(|| TerminalError::State("no supervisor on file".into()))?;
        match self.verify_operator(&number, password) {
            Ok(Role::Supervisor) => Ok(()),
            _ => Err(TerminalError::Input("the supervisor's password is wrong".into())),
        }
    }

    /// The operators on file: number and role.
    pub fn operators(&self) -> Result<Vec<(String, Role)>> {
        let rows = self.store.db().transaction(Store::operators)?;
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
        self.put_operator(number, role, password)
    }
}
