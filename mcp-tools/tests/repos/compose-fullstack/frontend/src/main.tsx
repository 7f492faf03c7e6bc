document.getElementById('root')!.textContent = 'frontend';
