//! The single sign-on permission is `sso:manage` (it was `sso:write`): custom roles that hold
//! the old name get the new one, so they keep managing SAML connections.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Permissions are stored space-separated; padding the list with spaces makes the
        // replacement match whole names only.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE roles SET permissions = \
                 TRIM(REPLACE(' ' || permissions || ' ', ' sso:write ', ' sso:manage '))",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE roles SET permissions = \
                 TRIM(REPLACE(' ' || permissions || ' ', ' sso:manage ', ' sso:write '))",
            )
            .await?;
        Ok(())
    }
}
