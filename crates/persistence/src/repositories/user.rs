//! Users over the `users` table.

use async_trait::async_trait;
use castellan_domain::{
    DomainError, Email, PlatformRole, User, UserId, UserPage, UserQuery, UserRepository,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{like_pattern, map_db_error, page_bounds};
use crate::Database;
use crate::entities::user::{ActiveModel, Column, Entity, Model};

/// [`UserRepository`] on the database.
#[derive(Debug, Clone)]
pub struct SqlUserRepository {
    database: Database,
}

impl SqlUserRepository {
    /// A repository on `database`.
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

pub(crate) fn to_domain(model: Model) -> Result<User, DomainError> {
    Ok(User {
        id: UserId(model.id),
        email: Email::parse(&model.email).map_err(|_| {
            DomainError::internal(format!("stored email of {} is invalid", model.id))
        })?,
        first_name: model.first_name,
        last_name: model.last_name,
        email_verified: model.email_verified,
        role: PlatformRole::parse(&model.role).map_err(|_| {
            DomainError::internal(format!("stored role of {} is invalid", model.id))
        })?,
        password_hash: model.password_hash,
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn to_active(user: &User) -> ActiveModel {
    ActiveModel {
        id: Set(user.id.0),
        email: Set(user.email.as_str().to_owned()),
        first_name: Set(user.first_name.clone()),
        last_name: Set(user.last_name.clone()),
        email_verified: Set(user.email_verified),
        role: Set(user.role.as_str().to_owned()),
        password_hash: Set(user.password_hash.clone()),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    }
}

#[async_trait]
impl UserRepository for SqlUserRepository {
    async fn create(&self, user: &User) -> Result<(), DomainError> {
        to_active(user)
            .insert(self.database.connection())
            .await
            .map_err(map_db_error("email"))?;
        Ok(())
    }

    async fn by_id(&self, id: UserId) -> Result<Option<User>, DomainError> {
        Entity::find_by_id(id.0)
            .one(self.database.connection())
            .await
            .map_err(map_db_error("user"))?
            .map(to_domain)
            .transpose()
    }

    async fn by_email(&self, email: &Email) -> Result<Option<User>, DomainError> {
        Entity::find()
            .filter(Column::Email.eq(email.as_str()))
            .one(self.database.connection())
            .await
            .map_err(map_db_error("user"))?
            .map(to_domain)
            .transpose()
    }

    async fn update(&self, user: &User) -> Result<(), DomainError> {
        let result = Entity::update_many()
            .set(to_active(user))
            .filter(Column::Id.eq(user.id.0))
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("email"))?;
        if result.rows_affected == 0 {
            return Err(DomainError::NotFound("user"));
        }
        Ok(())
    }

    async fn delete(&self, id: UserId) -> Result<bool, DomainError> {
        let result = Entity::delete_by_id(id.0)
            .exec(self.database.connection())
            .await
            .map_err(map_db_error("user"))?;
        Ok(result.rows_affected > 0)
    }

    async fn list(&self, query: &UserQuery) -> Result<UserPage, DomainError> {
        let mut select = Entity::find();
        if let Some(pattern) = query.search.as_deref().and_then(like_pattern) {
            select = select.filter(
                Condition::any()
                    .add(Expr::col(Column::Email).like(pattern.clone()))
                    .add(
                        Expr::expr(Func::lower(Expr::col(Column::FirstName))).like(pattern.clone()),
                    )
                    .add(Expr::expr(Func::lower(Expr::col(Column::LastName))).like(pattern)),
            );
        }
        if let Some(role) = query.role {
            select = select.filter(Column::Role.eq(role.as_str()));
        }
        if let Some(verified) = query.email_verified {
            select = select.filter(Column::EmailVerified.eq(verified));
        }
        let connection = self.database.connection();
        let total = select
            .clone()
            .count(connection)
            .await
            .map_err(map_db_error("user"))?;
        let (offset, limit) = page_bounds(query.page, query.per_page);
        let users = select
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .offset(offset)
            .limit(limit)
            .all(connection)
            .await
            .map_err(map_db_error("user"))?
            .into_iter()
            .map(to_domain)
            .collect::<Result<_, _>>()?;
        Ok(UserPage { users, total })
    }

    async fn count_with_role(&self, role: PlatformRole) -> Result<u64, DomainError> {
        Entity::find()
            .filter(Column::Role.eq(role.as_str()))
            .count(self.database.connection())
            .await
            .map_err(map_db_error("user"))
    }
}
