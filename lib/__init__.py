"""cronrelay: serverless HTTP cron endpoints for Vercel + Supabase."""
