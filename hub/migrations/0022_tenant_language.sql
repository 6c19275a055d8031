-- The language a tenant's dashboard and captive portal speak (issue 18): English and Swahili to
-- start; a page's ?lang= or the visitor's choice overrides it.
ALTER TABLE tenants
    ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'sw'));
