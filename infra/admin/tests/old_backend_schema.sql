-- The old backend's PostgreSQL schema (contract §2), as its ORM created it: the tables
-- `thanotopolis-admin import-postgres` reads (refresh_tokens and system_metrics are not
-- imported; they are here so an import of a real database is what the tests see).
CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name varchar NOT NULL,
    subdomain varchar NOT NULL UNIQUE,
    access_code varchar NOT NULL,
    description varchar,
    full_name varchar,
    address json,
    phone varchar,
    organization_email varchar,
    is_active boolean DEFAULT true,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz
);
CREATE TABLE users (
    id uuid PRIMARY KEY,
    email varchar NOT NULL,
    username varchar NOT NULL,
    hashed_password varchar NOT NULL,
    first_name varchar,
    last_name varchar,
    is_active boolean DEFAULT true,
    is_verified boolean DEFAULT false,
    role varchar DEFAULT 'member',
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz,
    CONSTRAINT unique_email_per_tenant UNIQUE (email, tenant_id)
);
CREATE TABLE refresh_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    token varchar NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    is_revoked boolean DEFAULT false,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE agents (
    id uuid PRIMARY KEY,
    owner_tenant_id uuid REFERENCES tenants (id),
    agent_type varchar NOT NULL UNIQUE,
    name varchar NOT NULL,
    description text,
    is_enabled boolean DEFAULT true,
    is_free_agent boolean DEFAULT true,
    owner_domain varchar,
    capabilities json DEFAULT '[]',
    is_active boolean DEFAULT true,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz
);
CREATE TABLE conversations (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    title varchar,
    description text,
    status varchar DEFAULT 'active',
    created_by_user_id uuid REFERENCES users (id),
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz
);
CREATE TABLE conversation_users (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    user_id uuid NOT NULL REFERENCES users (id),
    is_active boolean DEFAULT true,
    joined_at timestamptz DEFAULT now(),
    left_at timestamptz,
    UNIQUE (conversation_id, user_id)
);
CREATE TABLE conversation_agents (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    agent_id uuid NOT NULL REFERENCES agents (id),
    is_active boolean DEFAULT true,
    activated_at timestamptz DEFAULT now(),
    deactivated_at timestamptz,
    configuration json,
    UNIQUE (conversation_id, agent_id)
);
CREATE TABLE conversation_participants (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    participant_type varchar NOT NULL,
    identifier varchar NOT NULL,
    display_name varchar,
    is_active boolean DEFAULT true,
    joined_at timestamptz DEFAULT now(),
    left_at timestamptz,
    UNIQUE (conversation_id, participant_type, identifier)
);
-- No foreign key on conversation_id here: the old backend's application-level cascades
-- could leave a message whose conversation is gone, which the import must report.
CREATE TABLE messages (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL,
    user_id uuid REFERENCES users (id),
    participant_id uuid REFERENCES conversation_participants (id),
    message_type varchar DEFAULT 'text',
    content text NOT NULL,
    agent_type varchar,
    message_metadata json,
    additional_data text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz
);
CREATE TABLE usage_records (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    user_id uuid REFERENCES users (id),
    conversation_id uuid REFERENCES conversations (id),
    usage_type varchar NOT NULL,
    amount numeric(10, 4) NOT NULL,
    cost_per_unit numeric(10, 6),
    cost_cents integer,
    cost_currency varchar DEFAULT 'USD',
    service_provider varchar,
    model_name varchar,
    resource_type varchar,
    resource_id varchar,
    usage_metadata json,
    additional_data json,
    usage_date timestamptz DEFAULT now(),
    created_at timestamptz DEFAULT now()
);
