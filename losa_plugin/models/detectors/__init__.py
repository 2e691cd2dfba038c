# Components are imported here so that importing losa_plugin registers them.
