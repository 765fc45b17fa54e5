import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import './console.css';
import { Routes } from './routes.tsx';
import { Shell } from './shell.tsx';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Shell>
      <Routes />
    </Shell>
  </StrictMode>,
);
